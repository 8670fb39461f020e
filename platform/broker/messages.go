package broker

// messages.go: the platform end of the device topics. An inline client
// subscribes to the up topics (its handlers run on the publishing device's
// read goroutine, so they stay small), keeps the latest reported properties
// per device for the shadow, and publishes downlink messages.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/certlab/certlab/iotda"
)

// The IoTDA system topics the platform subscribes to, for every device
// (docs/iotda.md §8.5).
var (
	topicMessagesUp       = iotda.DeviceTopic("+", iotda.TopicMessagesUp)
	topicPropertiesReport = iotda.DeviceTopic("+", iotda.TopicPropertiesReport)
)

func (b *Broker) onMessageUp(_ *mqtt.Client, _ packets.Subscription, _ packets.Packet) {
	b.metrics.messages[kindMessageUp].Inc()
}

func (b *Broker) onPropertiesReport(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
	b.metrics.messages[kindPropertiesReport].Inc()
	deviceID := iotda.DeviceOfTopic(pk.TopicName)
	if deviceID == "" {
		return
	}
	var rep iotda.PropertiesReport
	if err := json.Unmarshal(pk.Payload, &rep); err != nil {
		return // not IoTDA JSON: counted, not shadowed
	}
	b.shadows.merge(deviceID, rep, b.now().UTC().Format(iotda.CompactTime))
}

// shadowStore keeps the reported properties of each device, merged per service.
type shadowStore struct {
	mu      sync.Mutex
	devices map[string]map[string]*iotda.DeviceShadowData // device_id -> service_id -> shadow
}

func newShadowStore() *shadowStore {
	return &shadowStore{devices: make(map[string]map[string]*iotda.DeviceShadowData)}
}

func (s *shadowStore) merge(deviceID string, rep iotda.PropertiesReport, now string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	services := s.devices[deviceID]
	if services == nil {
		services = make(map[string]*iotda.DeviceShadowData)
		s.devices[deviceID] = services
	}
	for _, svc := range rep.Services {
		if svc.ServiceID == "" {
			continue
		}
		sh := services[svc.ServiceID]
		if sh == nil {
			sh = &iotda.DeviceShadowData{ServiceID: svc.ServiceID, Reported: &iotda.DeviceShadowProperties{Properties: map[string]any{}}}
			services[svc.ServiceID] = sh
		}
		// Copy on write: a snapshot handed out by get is never mutated.
		props := maps.Clone(sh.Reported.Properties)
		maps.Copy(props, svc.Properties)
		et := svc.EventTime
		if et == "" {
			et = now
		}
		sh.Reported = &iotda.DeviceShadowProperties{Properties: props, EventTime: et}
		sh.Version++
	}
}

func (s *shadowStore) get(deviceID string) []iotda.DeviceShadowData {
	s.mu.Lock()
	defer s.mu.Unlock()
	services := s.devices[deviceID]
	out := make([]iotda.DeviceShadowData, 0, len(services))
	for _, sh := range services {
		out = append(out, *sh)
	}
	slices.SortFunc(out, func(a, b iotda.DeviceShadowData) int { return strings.Compare(a.ServiceID, b.ServiceID) })
	return out
}

func (s *shadowStore) drop(deviceID string) {
	s.mu.Lock()
	delete(s.devices, deviceID)
	s.mu.Unlock()
}

// Shadow returns the device's reported properties per service, sorted by
// service ID (empty when it never reported). Callers must not modify the maps.
func (b *Broker) Shadow(deviceID string) []iotda.DeviceShadowData {
	return b.shadows.get(deviceID)
}

// SendDown publishes payload to an online device, at QoS 1 (the device
// receives it at the QoS it subscribed with). topic "" means the device's
// iotda.TopicMessagesDown; any other topic must be a topic name under the
// device's own prefix. The device must be subscribed to the topic.
func (b *Broker) SendDown(ctx context.Context, deviceID, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("send down to %s: %w", deviceID, err)
	}
	if len(payload) > MaxPayload {
		return fmt.Errorf("send down to %s: %w", deviceID, ErrPayloadTooLarge)
	}
	if topic == "" {
		topic = iotda.DeviceTopic(deviceID, iotda.TopicMessagesDown)
	}
	if !iotda.IsOwnTopic(deviceID, topic) { // [ACL-OWN-TOPICS]
		return fmt.Errorf("send down to %s: %q: %w", deviceID, topic, ErrTopicNotAllowed)
	}
	b.mu.Lock()
	_, online := b.sessions[deviceID]
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return fmt.Errorf("send down to %s: %w", deviceID, ErrClosed)
	}
	if !online {
		return fmt.Errorf("send down to %s: %w", deviceID, iotda.ErrDeviceOffline)
	}
	if err := b.srv.Publish(topic, payload, false, 1); err != nil {
		return fmt.Errorf("send down to %s: %w", deviceID, err)
	}
	return nil
}
