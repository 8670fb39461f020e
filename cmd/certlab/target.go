package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/loadgen/host"
	"github.com/certlab/certlab/platform"
)

// openServer obtains the platform under test the one way every command
// does (host.OpenServer): the target file at path, pre-flighted unless
// noPreflight, or, when path is empty, the reference platform started in
// this process. The commands that use it (named by what) drive the
// platform's REST API, so a target without one is an error before anything
// runs. Close the server when done.
func openServer(ctx context.Context, path string, noPreflight bool, what string) (*host.Server, error) {
	s, err := host.OpenServer(ctx, host.ServerSpec{TargetFile: path, InProcess: startEmbedded, NoPreflight: noPreflight})
	if err != nil {
		return nil, err
	}
	if err := s.Target.RequireAPI(what); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// startEmbedded is the host.Launcher of the in-process platform: the
// reference platform on loopback ports in a fresh temporary data directory,
// which stop removes. It is the one place where the harness side of the
// binary meets platform.New (the harness packages reach a platform only
// through its target).
func startEmbedded(ctx context.Context) (*iotda.Target, func() error, error) {
	dir, err := os.MkdirTemp("", "certlab-embedded-*")
	if err != nil {
		return nil, nil, err
	}
	p, err := platform.New(platform.Config{
		DataDir:     dir,
		APIAddr:     "127.0.0.1:0",
		MQTTAddr:    "127.0.0.1:0",
		MetricsAddr: "127.0.0.1:0",
	})
	if err == nil {
		err = p.Start(ctx)
	}
	if err != nil {
		if p != nil {
			_ = p.Close()
		}
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	stop := func() error {
		err := p.Close()
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove embedded platform data: %w", rerr))
		}
		return err
	}
	return p.Target(), stop, nil
}
