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

// TemplateService reads the stage-aware message templates.
type TemplateService struct{ db *DB }

// NewTemplateService returns a TemplateService on db.
func NewTemplateService(db *DB) *TemplateService { return &TemplateService{db: db} }

// FindTemplate returns the template of a channel and stage.
func (s *TemplateService) FindTemplate(ctx context.Context, channel system.Channel, stage system.Stage) (system.Template, error) {
	t := system.Template{Channel: channel, Stage: stage}
	err := s.db.Pool.QueryRow(ctx, `SELECT subject, body FROM templates WHERE channel = $1 AND stage = $2`, channel, stage).Scan(&t.Subject, &t.Body)
	if err == pgx.ErrNoRows {
		return t, system.Errorf(system.ENOTFOUND, "no %s template for stage %s", channel, stage)
	}
	return t, wrap(err, "template")
}
