package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/certlab/certlab/loadgen/result"
)

// loadgenFlagRule refuses a flag that the run cannot honour when it is given
// on the command line. loadgen.Plan refuses what it can tell from the plan
// itself (e.g. --target or --backlog in a mode without them); these are the
// flags a plan cannot tell from their defaults.
type loadgenFlagRule struct {
	flag   string
	unused func(c *cobra.Command, mode result.Mode) bool // the run would ignore the flag
	why    string
}

var loadgenFlagRules = []loadgenFlagRule{
	{"no-preflight", func(c *cobra.Command, _ result.Mode) bool { return !c.Flags().Changed("target") },
		"only a --target file is pre-flighted"},
	{"in-process", func(c *cobra.Command, _ result.Mode) bool { return c.Flags().Changed("target") },
		"--target names the platform under test; --in-process starts one"},
	{"mqtt", tlsOnly, "tls-only mode speaks no MQTT"},
	{"keepalive", tlsOnly, "tls-only mode speaks no MQTT"},
	{"product-id", tlsOnly, "tls-only mode registers nothing and sends no device ID"},
	{"skip-prepare", tlsOnly, "tls-only mode registers nothing"},
	{"prepare-workers", func(c *cobra.Command, m result.Mode) bool {
		skip, _ := c.Flags().GetBool("skip-prepare")
		return m == result.ModeTLSOnly || skip
	}, "nothing is registered (tls-only mode or --skip-prepare)"},
	{"bad-kinds", func(c *cobra.Command, _ result.Mode) bool {
		share, _ := c.Flags().GetFloat64("bad-share")
		return share == 0
	}, "without --bad-share no device presents a bad identity"},
}

func tlsOnly(_ *cobra.Command, m result.Mode) bool { return m == result.ModeTLSOnly }

// refuseUnhonouredFlags returns an error naming the first flag given that
// the run would ignore.
func refuseUnhonouredFlags(c *cobra.Command, mode result.Mode) error {
	for _, r := range loadgenFlagRules {
		if c.Flags().Changed(r.flag) && r.unused(c, mode) {
			return fmt.Errorf("--%s: %s", r.flag, r.why)
		}
	}
	return nil
}
