package check

import (
	"fmt"
	"strings"
	"time"
)

// humanDuration says a duration the way people do: its two largest units,
// "2 years 11 months", "3 days 4 hours", "5 minutes", "40 seconds". Months
// are 30 days and years 365 days: close enough for certificate validity.
func humanDuration(d time.Duration) string {
	d = d.Abs()
	units := []struct {
		name string
		size time.Duration
	}{
		{"year", 365 * 24 * time.Hour},
		{"month", 30 * 24 * time.Hour},
		{"day", 24 * time.Hour},
		{"hour", time.Hour},
		{"minute", time.Minute},
		{"second", time.Second},
	}
	var parts []string
	for _, u := range units {
		if n := d / u.size; n > 0 {
			parts = append(parts, plural(int(n), u.name))
			d -= n * u.size
		} else if len(parts) > 0 {
			break // "1 year 3 days" would be misleading without the months
		}
		if len(parts) == 2 {
			break
		}
	}
	if len(parts) == 0 {
		return "less than a second"
	}
	return strings.Join(parts, " ")
}

func plural(n int, unit string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", unit)
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
