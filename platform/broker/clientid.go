package broker

import (
	"fmt"
	"strings"
	"time"
)

// MaxClientIDLen bounds the ClientId length. [LOGIN-CLIENTID]
const MaxClientIDLen = 256

// ClientID is an IoTDA ClientId: {device_id}_{identity type}_{sign type}_{YYYYMMDDHH}.
type ClientID struct {
	DeviceID     string
	IdentityType byte      // always 0 (device ID)
	SignType     byte      // 0: HMAC-SHA256 without timestamp check, 1: with
	Timestamp    time.Time // the YYYYMMDDHH field, UTC
}

// ParseClientID parses an IoTDA ClientId from the right, because device IDs
// contain underscores (product_id + "_" + node_id). [LOGIN-CLIENTID]
func ParseClientID(s string) (ClientID, error) {
	var id ClientID
	if s == "" {
		return id, fmt.Errorf("it is empty")
	}
	if len(s) > MaxClientIDLen {
		return id, fmt.Errorf("it is %d characters long (at most %d)", len(s), MaxClientIDLen)
	}
	// Three separators from the right; the device ID keeps the rest.
	i3 := strings.LastIndexByte(s, '_')
	i2 := strings.LastIndexByte(s[:max(i3, 0)], '_')
	i1 := strings.LastIndexByte(s[:max(i2, 0)], '_')
	if i1 < 0 || i2 < 0 || i3 < 0 {
		return id, fmt.Errorf("it has fewer than four _-separated fields")
	}
	rest, ident, sign, ts := s[:i1], s[i1+1:i2], s[i2+1:i3], s[i3+1:]
	if len(ts) != 10 || strings.Trim(ts, "0123456789") != "" {
		return id, fmt.Errorf("the timestamp %q is not 10 digits YYYYMMDDHH", ts)
	}
	t, err := time.Parse("2006010215", ts)
	if err != nil {
		return id, fmt.Errorf("the timestamp %q is not a valid hour (YYYYMMDDHH)", ts)
	}
	if sign != "0" && sign != "1" {
		return id, fmt.Errorf("the signature type %q is not 0 or 1", sign)
	}
	if ident != "0" {
		return id, fmt.Errorf("the identity type %q is not 0", ident)
	}
	if rest == "" {
		return id, fmt.Errorf("the device_id is empty")
	}
	return ClientID{DeviceID: rest, IdentityType: 0, SignType: sign[0] - '0', Timestamp: t}, nil
}

// String formats the ClientId.
func (c ClientID) String() string {
	return fmt.Sprintf("%s_%d_%d_%s", c.DeviceID, c.IdentityType, c.SignType, c.Timestamp.UTC().Format("2006010215"))
}
