// Package ui holds the web UI's files: html/template pages and fragments
// (templates/), and the ES modules and stylesheet they load (static/).
// Nothing is built or fetched: the files are served as they are.
package ui

import "embed"

// FS holds templates/ and static/.
//
//go:embed templates static
var FS embed.FS
