// Command scheduler is the upstream Dapr scheduler (github.com/dapr/dapr/cmd/scheduler),
// which stores jobs in an embedded etcd and streams them to daprd when due.
package main

import "github.com/dapr/dapr/cmd/scheduler/app"

func main() { app.Run() }
