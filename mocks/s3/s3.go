// Package s3 serves the S3 API from a directory, for mock mode: gofakes3
// with its filesystem backend, one file per object, so several processes
// may share the directory. It runs in-process under `reos up` or standalone
// as `reos mock s3`. Like a development MinIO it checks no credentials;
// presigned URLs work because their signature is not checked either.
package s3

import (
	"fmt"
	"net/http"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
)

// New returns an S3 endpoint serving the buckets kept under dir, creating
// the directory if needed.
func New(dir string) (http.Handler, error) {
	fs, err := s3afero.FsPath(dir, s3afero.FsPathCreateAll)
	if err != nil {
		return nil, fmt.Errorf("mock s3: %s: %w", dir, err)
	}
	backend, err := s3afero.MultiBucket(fs)
	if err != nil {
		return nil, fmt.Errorf("mock s3: %w", err)
	}
	faker := gofakes3.New(backend, gofakes3.WithAutoBucket(false), gofakes3.WithoutVersioning())
	return faker.Server(), nil
}
