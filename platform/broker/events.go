package broker

import (
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/platform/registry"
)

// HandleEvent drops live sessions that no longer qualify after a registry
// change. It is meant for (*registry.Registry).OnChange, which calls it
// synchronously after the commit: it only selects the sessions and returns;
// the disconnects run on a background goroutine. MQTT 5 devices get a
// DISCONNECT "not authorized" (0x87) first; 3.1.1 devices see the socket close.
func (b *Broker) HandleEvent(ev registry.Event) {
	var cause string
	var victims []*connState
	b.mu.Lock()
	switch ev.Kind {
	case registry.EventCADeleted: // [CA-DELETE]
		cause = causeCADeleted
		for _, st := range b.sessions {
			if st.ca != nil && st.ca.ID == ev.CAID {
				victims = append(victims, st)
			}
		}
	case registry.EventDeviceFrozen: // [DEV-FREEZE]
		cause = causeDeviceFrozen
		victims = b.sessionOf(ev.DeviceID)
	case registry.EventDeviceDeleted:
		cause = causeDeviceDeleted
		victims = b.sessionOf(ev.DeviceID)
		b.shadows.drop(ev.DeviceID)
	case registry.EventFingerprintReset:
		if ev.Force {
			cause = causeFingerprintReset
			victims = b.sessionOf(ev.DeviceID)
		}
	}
	if len(victims) == 0 || b.closed {
		b.mu.Unlock()
		return
	}
	b.bg.Add(1)
	b.mu.Unlock()

	b.metrics.dropped[cause].Add(float64(len(victims)))
	go func() {
		defer b.bg.Done()
		for _, st := range victims {
			b.kick(st, packets.ErrNotAuthorized)
		}
	}()
}

// sessionOf returns the device's live session, if any. Call with b.mu held.
func (b *Broker) sessionOf(deviceID string) []*connState {
	if st := b.sessions[deviceID]; st != nil {
		return []*connState{st}
	}
	return nil
}
