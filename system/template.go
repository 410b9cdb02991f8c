package system

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
)

// MessageData is what email and SMS templates may use.
type MessageData struct {
	OwnerName string
	Address   string
	City      string
	AgentName string
}

// MessageDataFor is what a template says to the owner of p, signed by the
// agent with that email address: first names only.
func MessageDataFor(p *Property, agentEmail string) MessageData {
	first, _, _ := strings.Cut(p.OwnerName, " ")
	agent, _, _ := strings.Cut(agentEmail, "@")
	return MessageData{OwnerName: first, Address: p.Address, City: p.City, AgentName: agent}
}

// Render fills the template for one owner.
func (t Template) Render(d MessageData) (subject, body string, err error) {
	fill := func(name, src string) (string, error) {
		tpl, err := template.New(name).Option("missingkey=error").Parse(src)
		if err != nil {
			return "", fmt.Errorf("templates: %s %s: %w", t.Channel, t.Stage, err)
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, d); err != nil {
			return "", fmt.Errorf("templates: %s %s: %w", t.Channel, t.Stage, err)
		}
		return b.String(), nil
	}
	if subject, err = fill("subject", t.Subject); err != nil {
		return "", "", err
	}
	body, err = fill("body", t.Body)
	return subject, body, err
}
