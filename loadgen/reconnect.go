package loadgen

// reconnect.go: the reconnect policies of storm mode, each the wait a device
// takes before every attempt after it lost its session. The backoff family
// follows Marc Brooker's "Exponential Backoff And Jitter" (AWS Architecture
// Blog, 2015); the Huawei policies are the reconnect loops of Huawei's IoT
// device SDKs, with their constants (see HuaweiC and HuaweiPython).

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// A Policy is a device's reconnect policy. Delay is the wait before
// reconnect attempt n (n = 0 is the first attempt after the session was
// lost, n = k the attempt after k failures); prev is the wait before the
// previous attempt (0 before the first); rng is the device's own source.
// A refused login (server_busy, a TLS alert) is a failure like any other.
type Policy interface {
	Delay(n int, prev time.Duration, rng *rand.Rand) time.Duration
	Name() string   // as --policy spells it
	Params() string // its parameters, for the summary
}

// Policy names (--policy).
const (
	PolicyImmediate    = "immediate"
	PolicyFixed        = "fixed"
	PolicyFullJitter   = "full-jitter"
	PolicyEqualJitter  = "equal-jitter"
	PolicyDecorrelated = "decorrelated"
	PolicyHuawei       = "huawei"        // Huawei's C device SDK (HuaweiC)
	PolicyHuaweiPython = "huawei-python" // Huawei's Python device SDK (HuaweiPython)
)

// PolicyNames lists the policies ParsePolicy knows.
var PolicyNames = []string{PolicyImmediate, PolicyFixed, PolicyFullJitter, PolicyEqualJitter, PolicyDecorrelated, PolicyHuawei, PolicyHuaweiPython}

// Defaults of the backoff parameters.
const (
	DefaultBackoffBase = time.Second
	DefaultBackoffCap  = 30 * time.Second
)

// ParsePolicy returns the named policy. base and cap are the backoff's
// base and cap (fixed: base is the delay); 0 takes DefaultBackoffBase and
// DefaultBackoffCap. The immediate and Huawei policies take neither: their
// waits are fixed (see HuaweiC), so a base or cap given to them is an error
// naming the parameter (baseSet, capSet say whether they were given).
func ParsePolicy(name string, base, cap time.Duration, baseSet, capSet bool) (Policy, error) {
	if base < 0 || cap < 0 {
		return nil, fmt.Errorf("policy %s: negative base or cap", name)
	}
	if base == 0 {
		base = DefaultBackoffBase
	}
	if cap == 0 {
		cap = DefaultBackoffCap
	}
	fixedWaits := func(p Policy) (Policy, error) {
		if baseSet || capSet {
			return nil, fmt.Errorf("--policy %s has fixed waits (%s): it takes no --backoff-base or --backoff-cap", name, p.Params())
		}
		return p, nil
	}
	switch name {
	case PolicyImmediate:
		return fixedWaits(Immediate{})
	case PolicyHuawei:
		return fixedWaits(HuaweiC{})
	case PolicyHuaweiPython:
		return fixedWaits(HuaweiPython{})
	case PolicyFixed:
		if capSet {
			return nil, fmt.Errorf("--policy fixed waits --backoff-base every time: it takes no --backoff-cap")
		}
		return Fixed{Wait: base}, nil
	}
	if cap < base {
		return nil, fmt.Errorf("policy %s: cap %s below base %s", name, cap, base)
	}
	switch name {
	case PolicyFullJitter:
		return FullJitter{Base: base, Cap: cap}, nil
	case PolicyEqualJitter:
		return EqualJitter{Base: base, Cap: cap}, nil
	case PolicyDecorrelated:
		return Decorrelated{Base: base, Cap: cap}, nil
	}
	return nil, fmt.Errorf("--policy %q: want one of %s", name, strings.Join(PolicyNames, ", "))
}

// Immediate retries at once, every time: the herd.
type Immediate struct{}

func (Immediate) Delay(int, time.Duration, *rand.Rand) time.Duration { return 0 }
func (Immediate) Name() string                                       { return PolicyImmediate }
func (Immediate) Params() string                                     { return "no wait" }

// Fixed waits the same time before every attempt.
type Fixed struct{ Wait time.Duration }

func (p Fixed) Delay(int, time.Duration, *rand.Rand) time.Duration { return p.Wait }
func (p Fixed) Name() string                                       { return PolicyFixed }
func (p Fixed) Params() string                                     { return "delay=" + p.Wait.String() }

// expo is min(cap, base·2^n), without overflow.
func expo(base, cap time.Duration, n int) time.Duration {
	for range n {
		if base >= cap/2 {
			return cap
		}
		base *= 2
	}
	return min(base, cap)
}

// uniform is a uniform time in [lo, hi) (lo when hi <= lo).
func uniform(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// FullJitter waits a uniform time in [0, min(Cap, Base·2^n)).
type FullJitter struct{ Base, Cap time.Duration }

func (p FullJitter) Delay(n int, _ time.Duration, rng *rand.Rand) time.Duration {
	return uniform(rng, 0, expo(p.Base, p.Cap, n))
}
func (p FullJitter) Name() string   { return PolicyFullJitter }
func (p FullJitter) Params() string { return fmt.Sprintf("base=%s cap=%s", p.Base, p.Cap) }

// EqualJitter waits half of t = min(Cap, Base·2^n) plus a uniform time in [0, t/2).
type EqualJitter struct{ Base, Cap time.Duration }

func (p EqualJitter) Delay(n int, _ time.Duration, rng *rand.Rand) time.Duration {
	t := expo(p.Base, p.Cap, n)
	return t/2 + uniform(rng, 0, t-t/2)
}
func (p EqualJitter) Name() string   { return PolicyEqualJitter }
func (p EqualJitter) Params() string { return fmt.Sprintf("base=%s cap=%s", p.Base, p.Cap) }

// Decorrelated waits min(Cap, uniform in [Base, 3·prev)), with prev = Base
// before the first attempt.
type Decorrelated struct{ Base, Cap time.Duration }

func (p Decorrelated) Delay(_ int, prev time.Duration, rng *rand.Rand) time.Duration {
	prev = max(prev, p.Base)
	return min(p.Cap, uniform(rng, p.Base, 3*prev))
}
func (p Decorrelated) Name() string   { return PolicyDecorrelated }
func (p Decorrelated) Params() string { return fmt.Sprintf("base=%s cap=%s", p.Base, p.Cap) }

// The constants of Huawei's device SDKs (milliseconds).
const (
	huaweiDefaultBackoffMs = 1000      // C: IOTA_DEFAULE_BACKOFF; Python: min_backoff
	huaweiMinBackoffMs     = 1000      // C: IOTA_MIN_BACKOFF; Python: min_backoff
	huaweiMaxBackoffMs     = 30 * 1000 // C: IOTA_MAX_BACKOFF; Python: max_backoff
)

// HuaweiC is the reconnect policy of Huawei's IoT device SDK for C
// (huaweicloud-iot-device-sdk-c, src/agentlite/iota_defaultCallback.c,
// IOTA_HandleConnectFailure, installed by IOTA_DefaultCallbackInit for both
// a failed connect and a lost connection; constants in its README §6.6:
// IOTA_DEFAULE_BACKOFF 1000, IOTA_MIN_BACKOFF 1000, IOTA_MAX_BACKOFF 30000 ms).
// Before every reconnect, the first one after a loss included, it sleeps
//
//	low = 0.8·1000, high = 1.0·1000, r = rand() % (high-low) + low   (800..999)
//	wait = min(1000 + 2^min(n,31) · (r + low), 30000) ms
//
// — the SDK adds low twice, so the first wait is 2.6–2.8 s, then 4.2–4.6,
// 7.4–8.2, 13.8–15.4, 26.6–29.8 s and 30 s from the sixth on. Its retry
// counter n is a static that is never reset; in a storm each device meets
// its first outage, so it starts at 0 here.
type HuaweiC struct{}

func (HuaweiC) Delay(n int, _ time.Duration, rng *rand.Rand) time.Duration {
	low := int64(huaweiDefaultBackoffMs * 8 / 10)
	high := int64(huaweiDefaultBackoffMs)
	r := rng.Int64N(high-low) + low
	ms := int64(huaweiMaxBackoffMs)
	if p := min(n, 31); p < 16 { // beyond 2^15·1600 ms the cap holds anyway
		ms = min(huaweiMinBackoffMs+(int64(1)<<p)*(r+low), huaweiMaxBackoffMs)
	}
	return time.Duration(ms) * time.Millisecond
}
func (HuaweiC) Name() string { return PolicyHuawei }
func (HuaweiC) Params() string {
	return "C SDK: wait min(1s + 2^n·U[1.6s,1.8s), 30s) before every reconnect"
}

// HuaweiPython is the reconnect policy of Huawei's IoT device SDK for Python
// (huaweicloud-iot-device-sdk-python, iot_device_sdk_python/transport/mqtt/
// mqtt_connection.py, MqttConnection.connect with reconnect_on_failure;
// min_backoff 1 s, max_backoff 30 s): after a loss it reconnects at once;
// after its n-th failure it sleeps
//
//	low = 0.8·min_backoff, high = min_backoff, r = randbelow(high-low)  (0..199)
//	wait = min(min_backoff + 2^(n-1)·(r + low), max_backoff)
//
// so 1.8–2.0 s, then 2.6–3.0, 4.2–5.0, 7.4–9.0, 13.8–17.0 s and 30 s from
// the seventh. (Its retry counter is never reset either; here it starts at
// 0 with the storm.)
type HuaweiPython struct{}

func (HuaweiPython) Delay(n int, _ time.Duration, rng *rand.Rand) time.Duration {
	if n == 0 {
		return 0
	}
	low := int64(huaweiMinBackoffMs * 8 / 10)
	r := rng.Int64N(huaweiMinBackoffMs - low)
	ms := int64(huaweiMaxBackoffMs)
	if p := n - 1; p < 16 {
		ms = min(huaweiMinBackoffMs+(int64(1)<<p)*(r+low), huaweiMaxBackoffMs)
	}
	return time.Duration(ms) * time.Millisecond
}
func (HuaweiPython) Name() string { return PolicyHuaweiPython }
func (HuaweiPython) Params() string {
	return "Python SDK: at once, then min(1s + 2^(n-1)·U[0.8s,1.0s), 30s)"
}
