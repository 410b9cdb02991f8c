// Package s3 stores objects through the S3 API with minio-go: against any
// S3 endpoint in production, against mocks/s3 in mock mode.
package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/real-estate-os/reos/system"
)

// Config locates a bucket.
type Config struct {
	Endpoint        string // URL, e.g. http://127.0.0.1:9000 or https://s3.amazonaws.com
	AccessKeyID     string
	SecretAccessKey string
	Bucket          string
	Region          string
	// Transport carries every request; it should dial through the egress
	// guard. http.DefaultTransport when nil.
	Transport http.RoundTripper
}

// Store is an ObjectStore on one bucket.
type Store struct {
	client *minio.Client
	bucket string
}

var _ system.ObjectStore = (*Store)(nil)

// New returns a store on cfg's bucket. It does not contact the endpoint;
// EnsureBucket does.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("s3: endpoint %q is not a URL", cfg.Endpoint)
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:    u.Scheme == "https",
		Region:    cfg.Region,
		Transport: cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return &Store{client: client, bucket: cfg.Bucket}, nil
}

// EnsureBucket creates the bucket when it does not exist.
func (s *Store) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3: bucket %s: %w", s.bucket, err)
	}
	if ok {
		return nil
	}
	if err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{}); err != nil {
		if resp := minio.ToErrorResponse(err); resp.Code == "BucketAlreadyOwnedByYou" || resp.Code == "BucketAlreadyExists" {
			return nil
		}
		return fmt.Errorf("s3: create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Check asks whether the bucket exists.
func (s *Store) Check(ctx context.Context) error {
	_, err := s.client.BucketExists(ctx, s.bucket)
	return err
}

// Put stores data under key. The size is known, so minio-go sends one
// signed PUT, never the streaming framing a plain-HTTP server would keep.
func (s *Store) Put(ctx context.Context, key string, data []byte, contentType string) error {
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType, DisableContentSha256: true})
	if err != nil {
		return fmt.Errorf("s3: put %s: %w", key, err)
	}
	return nil
}

// Get returns the object under key, or ENOTFOUND.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("s3: get %s: %w", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if resp := minio.ToErrorResponse(err); resp.Code == "NoSuchKey" {
		return nil, system.Errorf(system.ENOTFOUND, "no object %s", key)
	}
	if err != nil {
		return nil, fmt.Errorf("s3: get %s: %w", key, err)
	}
	return b, nil
}

// PresignGet returns a URL that GETs the object until expiry.
func (s *Store) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	u, err := s.client.PresignedGetObject(ctx, s.bucket, key, expiry, nil)
	if err != nil {
		return "", fmt.Errorf("s3: presign %s: %w", key, err)
	}
	return u.String(), nil
}
