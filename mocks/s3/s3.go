// Package s3 serves the S3 API from a directory, for mock mode: gofakes3
// over a bbolt file. It runs in-process under `reos up` or standalone as
// `reos mock s3`. It checks no credentials, as MinIO in a dev setup would
// not either; presigned URLs work because it ignores their signature.
package s3

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	bolt "go.etcd.io/bbolt"
)

// Server is an S3 endpoint backed by one file under its data directory.
type Server struct {
	http.Handler
	db *bolt.DB
}

// New opens (or creates) dir/s3.db and returns a server on it.
func New(dir string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mock s3: %w", err)
	}
	// The file is locked while open; a second server on the same
	// directory waits a little, then says so.
	db, err := bolt.Open(filepath.Join(dir, "s3.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("mock s3: open %s (is another server using it?): %w", dir, err)
	}
	faker := gofakes3.New(s3bolt.New(db), gofakes3.WithAutoBucket(false), gofakes3.WithoutVersioning())
	return &Server{Handler: faker.Server(), db: db}, nil
}

// Close closes the data file.
func (s *Server) Close() error { return s.db.Close() }
