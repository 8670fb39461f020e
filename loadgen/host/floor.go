package host

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"runtime"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/certlab/certlab/sim/pki"
)

// The client-side crypto floor is what one full mutual-TLS login costs a
// client in public-key cryptography alone: its key-exchange share and the
// shared secret, a signature with its device key (CertificateVerify), and
// two verifications with the server's key type (the server's
// CertificateVerify, and the CA signature on the server certificate: the
// chain check). docs/performance.md puts it at ≈175 µs for ECDSA P-256 and
// X25519. Anything a generator spends above it is TLS framing, hashing,
// the kernel, the runtime and the generator itself.
//
// A fixed figure from elsewhere is no yardstick on a shared machine whose
// speed drifts, so every window measures the floor on the generator's own
// machine right after its attack, with the same key types, and the summary
// reports the generator's CPU per login as a multiple of it.

// Floor measurement shape: floorBatches batches of floorBatch logins' worth
// of operations (≈35 ms each for P-256); the median batch is the figure.
const (
	floorBatch   = 200
	floorBatches = 5
)

// FloorSpec names the key types of the logins whose floor is measured.
type FloorSpec struct {
	// Group is the key exchange the logins negotiate (the first of the
	// client's curve preferences): X25519MLKEM768 (0 means it: Go's
	// default), X25519 or P-256. The floor counts the client's share and the
	// shared secret.
	Group     tls.CurveID
	ClientKey crypto.Signer // the device key that signs CertificateVerify
	ServerKey pki.KeyType   // the server's (and, assumed, its CA's) key type
}

// Floor is a measured client-side crypto floor.
type Floor struct {
	Us  float64 // thread CPU µs per login, median of the batches
	Ops string  // what one login's worth is, e.g. "X25519 + ECDSA P-256 sign + 2× ECDSA P-256 verify"
}

// MeasureClientFloor runs a login's worth of client-side public-key
// operations floorBatch×floorBatches times on one locked OS thread and
// returns the median thread CPU per login (≈0.2 s for P-256 keys).
func MeasureClientFloor(spec FloorSpec) (Floor, error) {
	kex, kexName, err := floorKex(spec.Group)
	if err != nil {
		return Floor{}, fmt.Errorf("crypto floor: %w", err)
	}
	sign, signName, err := floorSign(spec.ClientKey)
	if err != nil {
		return Floor{}, fmt.Errorf("crypto floor: %w", err)
	}
	verify, verifyName, err := floorVerify(spec.ServerKey)
	if err != nil {
		return Floor{}, fmt.Errorf("crypto floor: %w", err)
	}
	login := func() error {
		if err := kex(); err != nil {
			return err
		}
		if err := sign(); err != nil {
			return err
		}
		if err := verify(); err != nil { // the server's CertificateVerify
			return err
		}
		return verify() // the CA's signature on the server certificate
	}
	if err := login(); err != nil { // warm up, and fail before timing
		return Floor{}, fmt.Errorf("crypto floor: %w", err)
	}

	// Collect first: a cycle in progress would bill mark assists to the
	// loop (a 100,000-device generator measured 208 µs instead of 176).
	runtime.GC()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	per := make([]float64, 0, floorBatches)
	for range floorBatches {
		start, err := threadCPU()
		if err != nil {
			return Floor{}, fmt.Errorf("crypto floor: %w", err)
		}
		for range floorBatch {
			if err := login(); err != nil {
				return Floor{}, fmt.Errorf("crypto floor: %w", err)
			}
		}
		end, err := threadCPU()
		if err != nil {
			return Floor{}, fmt.Errorf("crypto floor: %w", err)
		}
		per = append(per, (end-start)*1e6/floorBatch)
	}
	slices.Sort(per)
	return Floor{Us: per[len(per)/2], Ops: fmt.Sprintf("%s + %s sign + 2× %s verify", kexName, signName, verifyName)}, nil
}

// threadCPU is the calling OS thread's CPU time in seconds.
func threadCPU() (float64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("thread CPU time: %w", err)
	}
	return float64(ts.Sec) + float64(ts.Nsec)/1e9, nil
}

// floorKex returns the client's key-exchange work for one handshake: its
// key share and, from the server's share, the shared secret.
func floorKex(g tls.CurveID) (func() error, string, error) {
	ecdhOps := func(curve ecdh.Curve) (func() error, error) {
		peer, err := curve.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return func() error {
			priv, err := curve.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			_, err = priv.ECDH(peer.PublicKey())
			return err
		}, nil
	}
	switch g {
	case tls.X25519:
		f, err := ecdhOps(ecdh.X25519())
		return f, "X25519", err
	case tls.CurveP256:
		f, err := ecdhOps(ecdh.P256())
		return f, "ECDH P-256", err
	case tls.X25519MLKEM768, 0:
		x, err := ecdhOps(ecdh.X25519())
		if err != nil {
			return nil, "", err
		}
		// The client generates an ML-KEM-768 key, sends its encapsulation
		// key and decapsulates the server's ciphertext (the cost is the
		// same for a ciphertext made for another key: implicit rejection).
		other, err := mlkem.GenerateKey768()
		if err != nil {
			return nil, "", err
		}
		_, ct := other.EncapsulationKey().Encapsulate()
		return func() error {
			if err := x(); err != nil {
				return err
			}
			dk, err := mlkem.GenerateKey768()
			if err != nil {
				return err
			}
			_ = dk.EncapsulationKey().Bytes()
			_, err = dk.Decapsulate(ct)
			return err
		}, "X25519MLKEM768", nil
	}
	return nil, "", fmt.Errorf("key exchange %s", g)
}

// floorDigest stands for the hash of a TLS 1.3 signed message.
var floorDigest = sha256.Sum256([]byte("certlab client crypto floor"))

// floorSign returns one CertificateVerify signature with the device key,
// with the scheme TLS 1.3 uses for its type.
func floorSign(key crypto.Signer) (func() error, string, error) {
	if key == nil {
		return nil, "", errors.New("no client key")
	}
	name := pki.KeyDescription(key.Public())
	switch key.(type) {
	case *ecdsa.PrivateKey:
		return func() error { _, err := key.Sign(rand.Reader, floorDigest[:], crypto.SHA256); return err }, name, nil
	case *rsa.PrivateKey:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		return func() error { _, err := key.Sign(rand.Reader, floorDigest[:], opts); return err }, name, nil
	case ed25519.PrivateKey:
		return func() error { _, err := key.Sign(rand.Reader, floorDigest[:], crypto.Hash(0)); return err }, name, nil
	}
	return nil, "", fmt.Errorf("client key %T", key)
}

// floorVerify returns one signature verification with a key of the
// server's type (a throwaway key: only its type matters).
func floorVerify(kt pki.KeyType) (func() error, string, error) {
	if kt == "" {
		kt = pki.ECDSAP256
	}
	key, err := pki.GenerateKey(kt)
	if err != nil {
		return nil, "", err
	}
	name := pki.KeyDescription(key.Public())
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		sig, err := ecdsa.SignASN1(rand.Reader, k, floorDigest[:])
		if err != nil {
			return nil, "", err
		}
		return func() error {
			if !ecdsa.VerifyASN1(&k.PublicKey, floorDigest[:], sig) {
				return errors.New("ECDSA verify failed")
			}
			return nil
		}, name, nil
	case *rsa.PrivateKey:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		sig, err := rsa.SignPSS(rand.Reader, k, crypto.SHA256, floorDigest[:], opts)
		if err != nil {
			return nil, "", err
		}
		return func() error { return rsa.VerifyPSS(&k.PublicKey, crypto.SHA256, floorDigest[:], sig, opts) }, name, nil
	case ed25519.PrivateKey:
		sig := ed25519.Sign(k, floorDigest[:])
		pub := k.Public().(ed25519.PublicKey)
		return func() error {
			if !ed25519.Verify(pub, floorDigest[:], sig) {
				return errors.New("Ed25519 verify failed")
			}
			return nil
		}, name, nil
	}
	return nil, "", fmt.Errorf("server key type %s", kt)
}
