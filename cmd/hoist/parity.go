package main

import "github.com/spf13/cobra"

// parityCommands are the commands docker compose has that hoist gained
// for parity (issue 16), each in its own file.
func parityCommands(a *app) []*cobra.Command {
	return []*cobra.Command{
		newPause(a, "pause"), newPause(a, "unpause"), newScale(a), newStats(a), newVolumes(a), newExport(a), newCommit(a), newEvents(a), newAttach(a), newPublish(a),
	}
}
