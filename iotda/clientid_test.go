package iotda

import (
	"strings"
	"testing"
	"time"
)

// [LOGIN-CLIENTID]
func TestParseClientID(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		device  string
		sign    byte
		wantErr string
	}{
		{"plain", "dev_0_0_2025041401", "dev", 0, ""},
		{"device ID with underscores", "prod_123_node_0_1_2025041423", "prod_123_node", 1, ""},
		{"device ID ending in _0", "prod_node_0_0_0_2025041401", "prod_node_0", 0, ""},
		{"empty", "", "", 0, "empty"},
		{"no fields", "device", "", 0, "fewer than four"},
		{"short timestamp", "dev_0_0_202504140", "", 0, "not 10 digits"},
		{"letters in timestamp", "dev_0_0_2025O41401", "", 0, "not 10 digits"},
		{"hour 24", "dev_0_0_2025041424", "", 0, "not a valid hour"},
		{"month 13", "dev_0_0_2025130100", "", 0, "not a valid hour"},
		{"February 30", "dev_0_0_2025023000", "", 0, "not a valid hour"},
		{"sign type 2", "dev_0_2_2025041401", "", 0, "signature type"},
		{"identity type 1", "dev_1_0_2025041401", "", 0, "identity type"},
		{"missing identity type", "0_2025041401", "", 0, "fewer than four"},
		{"empty device ID", "_0_0_2025041401", "", 0, "device_id is empty"},
		{"too long", strings.Repeat("d", 242) + "_0_0_2025041401", "", 0, "at most 256"},
		{"at the limit", strings.Repeat("d", 241) + "_0_0_2025041401", strings.Repeat("d", 241), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseClientID(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err %v", err)
			}
			if got.DeviceID != tc.device || got.SignType != tc.sign {
				t.Errorf("got %+v", got)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
		})
	}
	id, _ := ParseClientID("d_0_0_2025041423")
	if want := time.Date(2025, 4, 14, 23, 0, 0, 0, time.UTC); !id.Timestamp.Equal(want) {
		t.Errorf("timestamp %v, want %v", id.Timestamp, want)
	}
}
