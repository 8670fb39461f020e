package api

import (
	"errors"
	"net/http"

	"github.com/certlab/certlab/iotda"
	"github.com/certlab/certlab/platform/registry"
)

// Storage faults answer every write with a specific, stated error instead of
// a generic 500, and are not logged per request: the registry logs them
// (once for a lost file, rate-limited for a full disk) and counts them
// (certlab_platform_registry_write_failures_total).
const (
	msgStorageLost = "The registry is unavailable: its database file was removed or replaced while the platform was running, so nothing can be stored. Writes are refused until the platform is restarted (restore its data directory first)"
	msgStorageFull = "The registry could not be written: disk full. Nothing was stored; retry once space is freed"
	msgStorageIO   = "The registry could not be written: I/O error. Nothing was stored"
)

// storageError maps the registry's storage sentinels, or returns nil.
func storageError(err error) *apiError {
	switch {
	case errors.Is(err, registry.ErrStorageLost):
		return &apiError{status: http.StatusServiceUnavailable, code: iotda.CodeStorageLost, msg: msgStorageLost, quiet: true}
	case errors.Is(err, registry.ErrStorageFull):
		return &apiError{status: http.StatusInsufficientStorage, code: iotda.CodeStorageFull, msg: msgStorageFull, quiet: true}
	case errors.Is(err, registry.ErrStorageIO):
		return &apiError{status: http.StatusInternalServerError, code: iotda.CodeInternal, msg: msgStorageIO, quiet: true}
	}
	return nil
}
