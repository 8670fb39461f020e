package host

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if os.Getenv(reexecChildEnv) == "1" {
		reexecChildMain()
	}
	os.Exit(m.Run())
}
