// Package s3 serves the S3 API from a directory, for mock mode and contract
// runs: gofakes3 with its filesystem backend, one file per object, so
// several processes may share the directory. It runs in-process under
// `reos up` or standalone as `reos mock s3`.
//
// Unlike a development MinIO it checks every request's AWS Signature
// Version 4 — signed in the Authorization header or presigned in the query
// string, with the presigned URL's expiry — and answers S3's XML errors
// (SignatureDoesNotMatch, AccessDenied "Request has expired",
// InvalidAccessKeyId, RequestTimeTooSkewed…), so a broken signer or a wrong
// key fails here as it would against S3. The signature is recomputed with
// the AWS SDK for Go v2's own signer (aws/signer/v4) from the request's
// claimed time and scope, and compared in constant time.
package s3

import (
	"fmt"
	"net/http"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
)

// Config configures a Server.
type Config struct {
	// Dir keeps the buckets, created if needed.
	Dir string
	// AccessKeys maps each accepted access key id to its secret key.
	AccessKeys map[string]string
	// Now is the clock signatures and expiries are checked against.
	Now func() time.Time
}

// New returns an S3 endpoint serving the buckets kept under cfg.Dir to
// requests signed with one of cfg.AccessKeys.
func New(cfg Config) (http.Handler, error) {
	if len(cfg.AccessKeys) == 0 {
		return nil, fmt.Errorf("mock s3: at least one access key is needed")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	fs, err := s3afero.FsPath(cfg.Dir, s3afero.FsPathCreateAll)
	if err != nil {
		return nil, fmt.Errorf("mock s3: %s: %w", cfg.Dir, err)
	}
	backend, err := s3afero.MultiBucket(fs)
	if err != nil {
		return nil, fmt.Errorf("mock s3: %w", err)
	}
	faker := gofakes3.New(backend, gofakes3.WithAutoBucket(false), gofakes3.WithoutVersioning())
	return &verifier{keys: cfg.AccessKeys, now: cfg.Now, next: faker.Server()}, nil
}
