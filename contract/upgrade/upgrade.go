// Package upgrade judges a vendor's new contract against the one pinned:
// which of its breaking changes (oasdiff's) touch what a run used. It is
// apart from package contract so that what links contract (the suite) does
// not link oasdiff.
package upgrade

import (
	"fmt"
	"sort"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/oasdiff/checker"
	"github.com/oasdiff/oasdiff/diff"
	"github.com/oasdiff/oasdiff/load"
)

// Breaking lists the breaking changes (oasdiff's checks, level error)
// from the document pinned to next that touch the operations a run used
// ("METHOD /path", as ledgers name them), one line each, and counts the
// breaking changes elsewhere, which the product does not feel.
func Breaking(pinned, next []byte, used map[string]bool) (touching []string, elsewhere int, err error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	a, err := load.NewSpecInfoFromData(loader, pinned, "pinned")
	if err != nil {
		return nil, 0, fmt.Errorf("the pinned document: %w", err)
	}
	b, err := load.NewSpecInfoFromData(openapi3.NewLoader(), next, "next")
	if err != nil {
		return nil, 0, fmt.Errorf("the new document: %w", err)
	}
	d, sources, err := diff.GetWithOperationsSourcesMap(diff.NewConfig(), a, b)
	if err != nil {
		return nil, 0, err
	}
	l := checker.NewDefaultLocalizer()
	for _, c := range checker.CheckBackwardCompatibilityUntilLevel(checker.NewConfig(checker.GetAllChecks()), d, sources, checker.ERR) {
		op := c.GetOperation() + " " + c.GetPath()
		if !used[op] {
			elsewhere++
			continue
		}
		touching = append(touching, op+": "+c.GetUncolorizedText(l))
	}
	sort.Strings(touching)
	return touching, elsewhere, nil
}
