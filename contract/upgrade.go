package contract

// Used is the set of operations a ledger's entries exercised, by contract.
func Used(entries []Entry, contract string) map[string]bool {
	used := map[string]bool{}
	for _, e := range entries {
		if e.Contract == contract && e.Operation != "" {
			used[e.Operation] = true
		}
	}
	return used
}
