package harness

import "github.com/real-estate-os/reos/suites/client"

// The API client lives in package client, so that tools outside the suite
// (reos dlq drill) use it without the browser and Ginkgo.
type (
	Client   = client.Client
	Response = client.Response
)

// Guarded returns a client that may reach only loopback and base's host.
var Guarded = client.Guarded
