package check

import (
	"testing"
	"time"
)

func TestHumanDuration(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		d    time.Duration
		want string
	}{
		{2*365*day + 11*30*day + 5*day, "2 years 11 months"},
		{365 * day, "1 year"},
		{365*day + 3*day, "1 year"},
		{3*day + 4*time.Hour + 5*time.Minute, "3 days 4 hours"},
		{-(5*time.Minute + 3*time.Second), "5 minutes 3 seconds"},
		{40 * time.Second, "40 seconds"},
		{time.Millisecond, "less than a second"},
	}
	for _, tc := range tests {
		if got := humanDuration(tc.d); got != tc.want {
			t.Errorf("humanDuration(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
