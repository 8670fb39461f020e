package registry

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCreateProduct(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	base := Product{ProjectID: p.ID, Name: "Meter", DeviceType: "meter", ProtocolType: "MQTT"}
	with := func(f func(*Product)) Product {
		v := base
		f(&v)
		return v
	}
	bad := []struct {
		name   string
		in     Product
		want   error
		substr string
	}{
		{"unknown project", with(func(v *Product) { v.ProjectID = "nope" }), ErrNotFound, "project"},
		{"bad product_id chars", with(func(v *Product) { v.ID = "a b" }), ErrInvalidInput, "product_id must be 1-36"},
		{"product_id too long", with(func(v *Product) { v.ID = strings.Repeat("a", 37) }), ErrInvalidInput, "product_id must be 1-36"},
		{"no name", with(func(v *Product) { v.Name = "" }), ErrInvalidInput, "name must be 1-64"},
		{"name too long", with(func(v *Product) { v.Name = strings.Repeat("n", 65) }), ErrInvalidInput, "name must be 1-64"},
		{"no device_type", with(func(v *Product) { v.DeviceType = "" }), ErrInvalidInput, "device_type must be 1-32"},
		{"device_type too long", with(func(v *Product) { v.DeviceType = strings.Repeat("d", 33) }), ErrInvalidInput, "device_type must be 1-32"},
		{"protocol wrong case", with(func(v *Product) { v.ProtocolType = "mqtt" }), ErrInvalidInput, "protocol_type must be one of"},
		{"protocol unknown", with(func(v *Product) { v.ProtocolType = "LwM2M" }), ErrInvalidInput, "protocol_type must be one of"},
		{"data_format", with(func(v *Product) { v.DataFormat = "xml" }), ErrInvalidInput, "data_format must be json or binary"},
		{"capabilities not JSON", with(func(v *Product) { v.ServiceCapabilities = json.RawMessage("{") }), ErrInvalidInput, "not valid JSON"},
		{"capabilities not array", with(func(v *Product) { v.ServiceCapabilities = json.RawMessage(`{"a":1}`) }), ErrInvalidInput, "must be a JSON array"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.CreateProduct(testCtx(t), tc.in)
			requireErr(t, err, tc.want, tc.substr)
		})
	}

	t.Run("allocated id and defaults", func(t *testing.T) {
		got, err := r.CreateProduct(testCtx(t), base)
		if err != nil {
			t.Fatal(err)
		}
		if !reHex24.MatchString(got.ID) || got.DataFormat != "json" || string(got.ServiceCapabilities) != "[]" || got.CreatedAt.IsZero() {
			t.Fatalf("got %+v", got)
		}
		again, err := r.Product(p.ID, got.ID)
		if err != nil || again.Name != "Meter" {
			t.Fatalf("Product() = %+v, %v", again, err)
		}
	})
	t.Run("given id, every protocol", func(t *testing.T) {
		for _, proto := range []string{"MQTT", "CoAP", "HTTP", "HTTPS", "Modbus", "ONVIF", "OPC-UA", "OPC-DA", "Other", "TCP", "UDP"} {
			in := with(func(v *Product) { v.ID = "prod-" + proto; v.ProtocolType = proto; v.DataFormat = "binary" })
			if _, err := r.CreateProduct(testCtx(t), in); err != nil {
				t.Fatalf("%s: %v", proto, err)
			}
		}
	})
	t.Run("duplicate id", func(t *testing.T) {
		in := with(func(v *Product) { v.ID = "prod-MQTT" })
		_, err := r.CreateProduct(testCtx(t), in)
		requireErr(t, err, ErrProductExists, `"prod-MQTT" already exists`)
		// The same product_id in another project is fine.
		p2 := mustProject(t, r, "p2")
		in.ProjectID = p2.ID
		if _, err := r.CreateProduct(testCtx(t), in); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDeleteProduct(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	mustProduct(t, r, p.ID, "prod", "MQTT")
	d := mustDevice(t, r, p.ID, certDevice("prod", "node1"))
	requireErr(t, r.DeleteProduct(testCtx(t), p.ID, "prod"), ErrProductInUse, "still has 1 devices")
	if err := r.DeleteDevice(testCtx(t), p.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteProduct(testCtx(t), p.ID, "prod"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Product(p.ID, "prod"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Product after delete: %v", err)
	}
	requireErr(t, r.DeleteProduct(testCtx(t), p.ID, "prod"), ErrNotFound, "not found")
	_, err := r.CreateDevice(testCtx(t), p.ID, certDevice("prod", "node2"))
	requireErr(t, err, ErrNotFound, `product "prod" not found`)
}

func TestListProducts(t *testing.T) {
	r, _ := openTest(t, Options{})
	p := mustProject(t, r, "p")
	for _, id := range []string{"c", "a", "e", "b", "d"} {
		in := Product{ProjectID: p.ID, ID: id, Name: id, DeviceType: "t", ProtocolType: "MQTT", AppID: "x"}
		if id == "a" || id == "d" {
			in.AppID = "y"
		}
		if _, err := r.CreateProduct(testCtx(t), in); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(ps []Product) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.ID)
		}
		return strings.Join(s, ",")
	}
	cases := []struct {
		name  string
		app   string
		page  Page
		want  string
		total int64
	}{
		{"first page", "", Page{Limit: 2}, "e,d", 5},
		{"after marker", "", Page{Limit: 2, Marker: "d"}, "c,b", 5},
		{"offset", "", Page{Limit: 2, Marker: "d", Offset: 1}, "b,a", 5},
		{"IoTDA default marker", "", Page{Limit: 10, Marker: allFMarker}, "e,d,c,b,a", 5},
		{"app filter", "y", Page{}, "d,a", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := r.ListProducts(p.ID, tc.app, tc.page)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tc.want || total != tc.total {
				t.Fatalf("got %s (total %d), want %s (total %d)", ids(got), total, tc.want, tc.total)
			}
		})
	}
	_, _, err := r.ListProducts(p.ID, "", Page{Marker: "bad marker"})
	requireErr(t, err, ErrInvalidInput, "marker")
	_, _, err = r.ListProducts(p.ID, "", Page{Limit: 99})
	requireErr(t, err, ErrInvalidInput, "limit must be 1..50")
}
