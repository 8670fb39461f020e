package broker

// mochilog.go: the slog.Handler mochi logs through. mochi logs per
// connection and per packet, and puts whole packets in its attributes:
// server.go receivePacket logs "error processing packet" with the packet
// ("pk") at Warn, so one MQTT 3.1.1 device publishing 1 MiB to a topic it
// may not use wrote the whole payload, formatted, into the log for each
// publish (docs/libraries.md A1.7 on its log levels). This handler keeps
// Warn and above, writes a packet as a short summary (type, QoS, packet ID,
// topic cut to bound.Field, payload size), cuts every other value to
// bound.Field, and writes at most one line per mochi message per interval
// (ratelog), then a summary with the count of the lines held back.

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/platform/internal/bound"
	"github.com/certlab/certlab/platform/internal/ratelog"
)

// mochiLog is a slog.Handler for mochi's Options.Logger. Kinds of the rate
// limit are mochi's messages: string literals of its source, a closed set.
type mochiLog struct {
	warn, err *ratelog.Logger
	attrs     []slog.Attr // from WithAttrs, already bounded
	group     string      // from WithGroup: a key prefix ("g.")
}

// newMochiLog writes to log (with component=mochi) at most one line per
// mochi message and level every interval.
func newMochiLog(log *slog.Logger, interval time.Duration) *mochiLog {
	log = log.With("component", "mochi")
	return &mochiLog{
		warn: ratelog.New(log, slog.LevelWarn, interval),
		err:  ratelog.New(log, slog.LevelError, interval),
	}
}

// Enabled drops mochi's Info and Debug lines (one per connection and more).
func (h *mochiLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

// Handle writes the record through the rate limiter with bounded attributes.
func (h *mochiLog) Handle(_ context.Context, r slog.Record) error {
	attrs := make([]slog.Attr, 0, len(h.attrs)+r.NumAttrs())
	attrs = append(attrs, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, h.bounded(a))
		return true
	})
	msg := bound.String(r.Message, bound.Field)
	if r.Level >= slog.LevelError {
		h.err.Log(msg, msg, attrs...)
	} else {
		h.warn.Log(msg, msg, attrs...)
	}
	return nil
}

func (h *mochiLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = make([]slog.Attr, 0, len(h.attrs)+len(as))
	c.attrs = append(c.attrs, h.attrs...)
	for _, a := range as {
		c.attrs = append(c.attrs, h.bounded(a))
	}
	return &c
}

func (h *mochiLog) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group = h.group + name + "."
	return &c
}

// close writes the pending summaries.
func (h *mochiLog) close() {
	h.warn.Close()
	h.err.Close()
}

// bounded returns a with its key prefixed by the group and its value cut
// to size: packets summarised, strings, errors and anything else formatted
// cut to bound.Field. Groups are flattened.
func (h *mochiLog) bounded(a slog.Attr) slog.Attr {
	key := bound.String(h.group+a.Key, bound.Field)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(key, bound.String(v.String(), bound.Field))
	case slog.KindGroup:
		var parts []string
		for _, g := range v.Group() {
			b := (&mochiLog{group: key + "."}).bounded(g)
			parts = append(parts, b.Key+"="+b.Value.String())
		}
		return slog.String(key, bound.String(strings.Join(parts, " "), bound.Field))
	case slog.KindAny:
		switch x := v.Any().(type) {
		case packets.Packet:
			return slog.String(key, packetSummary(&x))
		case *packets.Packet:
			return slog.String(key, packetSummary(x))
		case error:
			return slog.String(key, bound.String(x.Error(), bound.Field))
		case fmt.Stringer:
			return slog.String(key, bound.String(x.String(), bound.Field))
		default:
			// Never format an unknown value whole: it may hold a payload.
			return slog.String(key, fmt.Sprintf("(%T)", x))
		}
	default: // numbers, bools, times, durations: bounded by their kind
		return slog.Attr{Key: key, Value: v}
	}
}

// packetTypes names MQTT control packets for packetSummary.
var packetTypes = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// packetSummary describes a packet in a bounded line: its type and flags,
// packet ID, topic (cut to bound.Field) and payload size; never its payload.
func packetSummary(pk *packets.Packet) string {
	var b strings.Builder
	if t := int(pk.FixedHeader.Type); t < len(packetTypes) {
		b.WriteString(packetTypes[t])
	} else {
		b.WriteString("type " + strconv.Itoa(t))
	}
	b.WriteString(" qos=" + strconv.Itoa(int(pk.FixedHeader.Qos)))
	if pk.FixedHeader.Retain {
		b.WriteString(" retain")
	}
	if pk.PacketID != 0 {
		b.WriteString(" id=" + strconv.Itoa(int(pk.PacketID)))
	}
	if pk.TopicName != "" {
		b.WriteString(" topic=" + strconv.Quote(bound.String(pk.TopicName, bound.Field)))
	}
	if n := len(pk.Filters); n > 0 {
		b.WriteString(" filters=" + strconv.Itoa(n))
	}
	if len(pk.Payload) > 0 {
		b.WriteString(" payload_bytes=" + strconv.Itoa(len(pk.Payload)))
	}
	if pk.ReasonCode != 0 {
		b.WriteString(" reason=0x" + strconv.FormatUint(uint64(pk.ReasonCode), 16))
	}
	return b.String()
}
