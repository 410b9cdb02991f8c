// Package progress is how a suite run reports as it goes (REOS_PROGRESS)
// and how reos green follows it: one JSON object per line, each appended
// in a single write, so every Ginkgo process may append to one file.
package progress

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
)

// ShardEnv tells a suite run that it is shard I of N ("I/N"; reos green
// --shard sets it), for its pack to say so.
const ShardEnv = "REOS_SHARD"

// Line is a spec that ended, or the pack once it is sealed.
type Line struct {
	Flow    string  `json:"flow,omitempty"`
	Spec    string  `json:"spec,omitempty"`
	Outcome string  `json:"outcome,omitempty"` // passed, failed, skipped
	Seconds float64 `json:"seconds,omitempty"`
	Failure string  `json:"failure,omitempty"`
	Pack    string  `json:"pack,omitempty"`
}

// Append adds l to the file at path, creating it.
func Append(path string, l Line) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

// Reader follows a file others append to.
type Reader struct {
	f       *os.File
	pending []byte // the start of a line still being written
}

// Open follows the file at path from its start.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &Reader{f: f}, nil
}

// Next returns the whole lines appended since the last call; lines that
// are not a Line are left out.
func (r *Reader) Next() ([]Line, error) {
	b, err := io.ReadAll(r.f)
	if err != nil {
		return nil, err
	}
	r.pending = append(r.pending, b...)
	var out []Line
	for {
		i := bytes.IndexByte(r.pending, '\n')
		if i < 0 {
			return out, nil
		}
		var l Line
		if json.Unmarshal(r.pending[:i], &l) == nil {
			out = append(out, l)
		}
		r.pending = r.pending[i+1:]
	}
}

// Close stops following.
func (r *Reader) Close() error { return r.f.Close() }
