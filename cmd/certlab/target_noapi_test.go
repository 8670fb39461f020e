package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certlab/certlab/iotda"
)

// TestCommandsThatNeedTheAPI: a target without api_endpoint (an MQTT
// broker) is one clear error for the commands that drive the REST API,
// before anything runs.
func TestCommandsThatNeedTheAPI(t *testing.T) {
	dir := t.TempDir()
	broker := filepath.Join(dir, "broker.json")
	writeTargetFile(t, broker, `{"name":"broker","mqtt_endpoint":"127.0.0.1:1"}`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bdd", "--target", broker, "--no-preflight"}, "certlab bdd needs the platform's REST API"},
		{[]string{"sim", "--target", broker, "--no-preflight", "--devices", "2", "--fleet", filepath.Join(dir, "fleet")}, "certlab sim (it registers the fleet) needs"},
		{[]string{"attempts", "--target", broker}, "has no api_endpoint"},
	} {
		_, _, err := runCLI(t, tc.args...)
		if !errors.Is(err, iotda.ErrNoAPI) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("certlab %s: err = %v, want ErrNoAPI saying %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
