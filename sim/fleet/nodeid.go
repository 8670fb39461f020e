package fleet

import (
	"fmt"
	"strconv"
)

// Node IDs look like real devices' (DEV-NODEID: 1–64 of [A-Za-z0-9_-], "a MAC
// address, serial number or IMEI"). Device i gets kind i%3 and the kind's
// counter n = i/3, so IDs are deterministic per index and never collide:
//
//	mac:    "a4c138" + 6 lowercase hex digits of n (no colons: node_id allows none)
//	serial: "SN" + 10 decimal digits of n
//	imei:   8-digit TAC (35209900 + n/1e6) + 6-digit serial (n%1e6) + Luhn check digit
//
// A fleet's NodeIDPrefix is prepended to all three.

// NodeIDKind names the kind of a node ID.
type NodeIDKind string

// Node ID kinds, in rotation order.
const (
	KindMAC    NodeIDKind = "mac"
	KindSerial NodeIDKind = "serial"
	KindIMEI   NodeIDKind = "imei"
)

var kinds = [3]NodeIDKind{KindMAC, KindSerial, KindIMEI}

const (
	macOUI       = "a4c138"
	macSpace     = 1 << 24 // device counters per kind a MAC suffix can hold
	imeiTACBase  = 35209900
	serialPrefix = "SN"
	// MaxNodeIDLen is the longest node ID without prefix (an IMEI).
	MaxNodeIDLen = 15
	// MaxDevices bounds a fleet so every kind's counter stays in range.
	MaxDevices = 3 * macSpace
)

// KindOf returns the node-ID kind of device i.
func KindOf(i int) NodeIDKind { return kinds[i%3] }

// NodeID returns the node ID of device i (0 <= i < MaxDevices). [DEV-NODEID]
func NodeID(prefix string, i int) string {
	n := i / 3
	switch KindOf(i) {
	case KindMAC:
		return fmt.Sprintf("%s%s%06x", prefix, macOUI, n)
	case KindSerial:
		return fmt.Sprintf("%s%s%010d", prefix, serialPrefix, n)
	default:
		body := fmt.Sprintf("%08d%06d", imeiTACBase+n/1_000_000, n%1_000_000)
		return prefix + body + strconv.Itoa(LuhnCheckDigit(body))
	}
}

// LuhnCheckDigit returns the digit that makes body+digit pass the Luhn check
// (the IMEI check digit). body must be decimal digits.
func LuhnCheckDigit(body string) int {
	sum := 0
	for j := len(body) - 1; j >= 0; j-- {
		d := int(body[j] - '0')
		if (len(body)-1-j)%2 == 0 { // rightmost body digit is doubled
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return (10 - sum%10) % 10
}

// LuhnValid reports whether a decimal string passes the Luhn check.
func LuhnValid(s string) bool {
	if len(s) < 2 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return LuhnCheckDigit(s[:len(s)-1]) == int(s[len(s)-1]-'0')
}
