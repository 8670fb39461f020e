package iotda

// logintemplate.go: the MQTT login names a target expects when they are not
// IoTDA's. IoTDA's own rule (ClientId {device_id}_0_0_{YYYYMMDDHH}, username
// {device_id}) stays where it is defined; a target for another broker
// (mosquitto, EMQX, HiveMQ) names its conventions in the target file as
// templates, e.g. "client_id_template": "{cn}".

import (
	"fmt"
	"strings"
	"time"
)

// Placeholders of a login template.
const (
	PlaceholderDeviceID  = "{device_id}"  // {product_id}_{node_id}, IoTDA's device ID
	PlaceholderNodeID    = "{node_id}"    // the device's node ID
	PlaceholderProductID = "{product_id}" // the product the device belongs to
	PlaceholderCN        = "{cn}"         // the subject common name of the device certificate
	PlaceholderHour      = "{YYYYMMDDHH}" // the login's hour, UTC, as IoTDA's ClientId writes it
)

// loginHourLayout is the time layout of PlaceholderHour (IoTDA's ClientId
// timestamp field).
const loginHourLayout = ClientIDTimeLayout

var placeholders = []string{PlaceholderDeviceID, PlaceholderNodeID, PlaceholderProductID, PlaceholderCN, PlaceholderHour}

// LoginVars are the values a login template is expanded with.
type LoginVars struct {
	DeviceID  string
	NodeID    string
	ProductID string
	CN        string    // subject common name of the device certificate
	Time      time.Time // the login's time (PlaceholderHour)
}

// LoginTemplate is a parsed ClientId or username template: literal text and
// placeholders. The zero LoginTemplate is "not set": callers use IoTDA's rule.
type LoginTemplate struct {
	source string
	parts  []templatePart
}

type templatePart struct {
	literal     string
	placeholder string // "" for a literal
}

// ParseLoginTemplate parses a template such as "{cn}" or
// "{node_id}_{YYYYMMDDHH}". "" gives the zero template. An unknown
// placeholder or an unbalanced brace is an error naming it.
func ParseLoginTemplate(s string) (LoginTemplate, error) {
	t := LoginTemplate{source: s}
	for rest := s; rest != ""; {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			t.parts = append(t.parts, templatePart{literal: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, templatePart{literal: rest[:open]})
			rest = rest[open:]
		}
		if rest[0] == '}' {
			return LoginTemplate{}, fmt.Errorf("template %q: '}' without '{'", s)
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return LoginTemplate{}, fmt.Errorf("template %q: '{' without '}'", s)
		}
		name := rest[:end+1]
		known := false
		for _, p := range placeholders {
			known = known || p == name
		}
		if !known {
			return LoginTemplate{}, fmt.Errorf("template %q: unknown placeholder %s (want %s)", s, name, strings.Join(placeholders, ", "))
		}
		t.parts = append(t.parts, templatePart{placeholder: name})
		rest = rest[end+1:]
	}
	return t, nil
}

// IsZero reports whether the template is unset (parsed from "").
func (t LoginTemplate) IsZero() bool { return t.source == "" }

// String is the template's source text.
func (t LoginTemplate) String() string { return t.source }

// Uses reports whether the template contains the placeholder.
func (t LoginTemplate) Uses(placeholder string) bool {
	for _, p := range t.parts {
		if p.placeholder == placeholder {
			return true
		}
	}
	return false
}

// Expand fills the template in with v.
func (t LoginTemplate) Expand(v LoginVars) string {
	if len(t.parts) == 1 && t.parts[0].placeholder != "" { // "{cn}", the usual case: no builder
		return v.value(t.parts[0].placeholder)
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.placeholder == "" {
			b.WriteString(p.literal)
			continue
		}
		b.WriteString(v.value(p.placeholder))
	}
	return b.String()
}

func (v LoginVars) value(placeholder string) string {
	switch placeholder {
	case PlaceholderDeviceID:
		return v.DeviceID
	case PlaceholderNodeID:
		return v.NodeID
	case PlaceholderProductID:
		return v.ProductID
	case PlaceholderCN:
		return v.CN
	case PlaceholderHour:
		return v.Time.UTC().Format(loginHourLayout)
	}
	return ""
}
