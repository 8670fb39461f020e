package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform"
	"github.com/certlab/certlab/preflight"
)

// embeddedOptions tune the in-process platform that commands start when no
// --target is given.
type embeddedOptions struct {
	DataDir string // "" = a fresh temporary directory, removed on cleanup
	// Test-only rule breakers (see platform.Config).
	MaxCAsPerProject               int
	AllowCertificatesOnAnyProtocol bool
	// NoPreflight skips the pre-flight of a target file.
	NoPreflight bool
}

// resolveTarget loads the target file at path and pre-flights it (one
// line per problem instead of a run that fails at every step), or, when path
// is empty, starts an embedded reference platform on loopback ports and
// returns its target. cleanup stops the embedded platform (a no-op for a
// file target).
func resolveTarget(ctx context.Context, path string, opts embeddedOptions) (t *iotda.Target, targetPath string, cleanup func(), err error) {
	if path != "" {
		t, err := iotda.LoadTarget(path)
		if err != nil {
			return nil, "", nil, err
		}
		if !opts.NoPreflight {
			pf := preflight.Run(ctx, t, preflight.Options{Source: filepath.Base(path)})
			if err := pf.Err(); err != nil {
				return nil, "", nil, fmt.Errorf("%w (certlab target check %s shows every check)", err, path)
			}
		}
		return t, path, func() {}, nil
	}
	dir := opts.DataDir
	removeDir := false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "certlab-embedded-*"); err != nil {
			return nil, "", nil, fmt.Errorf("embedded platform: %w", err)
		}
		removeDir = true
	}
	p, err := platform.New(platform.Config{
		DataDir:                        dir,
		APIAddr:                        "127.0.0.1:0",
		MQTTAddr:                       "127.0.0.1:0",
		MetricsAddr:                    "127.0.0.1:0",
		MaxCAsPerProject:               opts.MaxCAsPerProject,
		AllowCertificatesOnAnyProtocol: opts.AllowCertificatesOnAnyProtocol,
	})
	if err != nil {
		return nil, "", nil, err
	}
	if err := p.Start(ctx); err != nil {
		if removeDir {
			os.RemoveAll(dir)
		}
		return nil, "", nil, fmt.Errorf("embedded platform: %w", err)
	}
	cleanup = func() {
		_ = p.Close()
		if removeDir {
			os.RemoveAll(dir)
		}
	}
	return p.Target(), p.TargetPath(), cleanup, nil
}
