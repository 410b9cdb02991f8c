package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/real-estate-os/reos/system"
)

var _ system.RuleService = (*RuleService)(nil)

// RuleService reads next-best-action rules, stored as JSON documents.
type RuleService struct{ db *DB }

// NewRuleService returns a RuleService on db.
func NewRuleService(db *DB) *RuleService { return &RuleService{db: db} }

// FindRules returns every rule, ordered by priority then id.
func (s *RuleService) FindRules(ctx context.Context) ([]system.Rule, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT rule FROM nba_rules ORDER BY priority, id`)
	if err != nil {
		return nil, wrap(err, "find rules")
	}
	rules, err := pgx.CollectRows(rows, pgx.RowTo[system.Rule])
	return rules, wrap(err, "find rules")
}
