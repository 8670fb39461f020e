package bound

import (
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short printable", "dev_0_0_2025010100", 256, "dev_0_0_2025010100"},
		{"empty", "", 8, ""},
		{"exactly the bound", "abcdefgh", 8, "abcdefgh"},
		{"cut", "abcdefghij", 8, "abcdefgh…[+2 bytes]"},
		{"control bytes", "a\x00b\nc", 64, `a\x00b\x0ac`},
		{"DEL", "a\x7f", 64, `a\x7f`},
		{"backslash", `a\b`, 64, `a\\b`},
		{"invalid UTF-8", "a\xffb", 64, `a\xffb`},
		{"printable UTF-8 kept", "Zürich 東京", 64, "Zürich 東京"},
		{"bidi override escaped", "a\u202eb", 64, `a\xe2\x80\xaeb`},
		{"C1 control escaped", "a\u0085b", 64, `a\xc2\x85b`},
		{"escapes count against the bound", strings.Repeat("\x01", 10), 8, `\x01\x01…[+8 bytes]`},
		{"a rune is never split", "ab東京", 4, "ab…[+6 bytes]"},
		{"an escape is never split", "abc\x01", 6, "abc…[+1 bytes]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := String(tc.in, tc.max); got != tc.want {
				t.Errorf("String(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
			}
		})
	}
}

// Whatever the input, the output is valid UTF-8 of at most max bytes plus
// the marker, and holds no control byte.
func TestStringIsBounded(t *testing.T) {
	inputs := []string{
		strings.Repeat("\x00", 60000),
		strings.Repeat("A", 60000),
		strings.Repeat("\xff\xfe", 30000),
		strings.Repeat("東", 20000),
		strings.Repeat("\\", 60000),
		strings.Repeat("a\u202e", 20000),
	}
	for _, in := range inputs {
		for _, max := range []int{0, 1, 3, 4, 5, Field, Detail} {
			got := String(in, max)
			if len(got) > max+MarkerMax {
				t.Errorf("String(%d bytes, %d) is %d bytes, more than %d", len(in), max, len(got), max+MarkerMax)
			}
			if !utf8.ValidString(got) {
				t.Errorf("String(%d bytes, %d) is not valid UTF-8: %q", len(in), max, got)
			}
			for i := 0; i < len(got); i++ {
				if got[i] < 0x20 || got[i] == 0x7f {
					t.Fatalf("String(%d bytes, %d) holds control byte 0x%02x", len(in), max, got[i])
				}
			}
			if !strings.HasSuffix(got, " bytes]") {
				t.Errorf("String(%d bytes, %d) = %q: no marker", len(in), max, got)
			}
		}
	}
}

// The hot path (every successful login records a few short values) does
// not allocate.
func TestStringPlainDoesNotAllocate(t *testing.T) {
	s := "prod_node-1_0_0_2025010100"
	if n := testing.AllocsPerRun(100, func() { _ = String(s, Field) }); n != 0 {
		t.Errorf("String of a short printable value allocates %v times", n)
	}
}

// A cut result does not keep the input alive.
func TestStringCutCopies(t *testing.T) {
	in := strings.Repeat("x", 1<<20)
	got := String(in, Field)
	if len(got) > Field+MarkerMax {
		t.Fatalf("%d bytes", len(got))
	}
	start, end := uintptr(unsafe.Pointer(unsafe.StringData(in))), uintptr(unsafe.Pointer(unsafe.StringData(in)))+uintptr(len(in))
	if p := uintptr(unsafe.Pointer(unsafe.StringData(got))); p >= start && p < end {
		t.Error("the cut result shares the input's memory")
	}
}
