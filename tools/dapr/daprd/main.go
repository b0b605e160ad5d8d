// Command daprd is the upstream Dapr sidecar (github.com/dapr/dapr/cmd/daprd)
// with only the components this project uses registered.
//
// Upstream's cmd/daprd/app imports cmd/daprd/components, which registers
// either every stable component or every component (build tags
// `stablecomponents` / `allcomponents`) and panics with neither. So this
// command does not import app: run.go starts the runtime the way app.Run
// does, and init below registers exactly the component types that
// components/ and helm/ use. A component YAML of any other type makes daprd
// fail with "couldn't find ... in the registry".
package main

import (
	"github.com/dapr/components-contrib/bindings/cron"
	bindingshttp "github.com/dapr/components-contrib/bindings/http"
	"github.com/dapr/components-contrib/bindings/smtp"
	"github.com/dapr/components-contrib/nameresolution/mdns"
	nrsqlite "github.com/dapr/components-contrib/nameresolution/sqlite"
	"github.com/dapr/components-contrib/pubsub/kafka"
	secretsk8s "github.com/dapr/components-contrib/secretstores/kubernetes"
	secretsenv "github.com/dapr/components-contrib/secretstores/local/env"
	secretsfile "github.com/dapr/components-contrib/secretstores/local/file"
	statepgv1 "github.com/dapr/components-contrib/state/postgresql/v1"
	statepgv2 "github.com/dapr/components-contrib/state/postgresql/v2"
	statesqlite "github.com/dapr/components-contrib/state/sqlite"

	"github.com/dapr/dapr/pkg/components"
	bindingsloader "github.com/dapr/dapr/pkg/components/bindings"
	nrloader "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubloader "github.com/dapr/dapr/pkg/components/pubsub"
	secretsloader "github.com/dapr/dapr/pkg/components/secretstores"
	stateloader "github.com/dapr/dapr/pkg/components/state"
)

func init() {
	pubsubloader.DefaultRegistry.RegisterComponent(kafka.NewKafka, "kafka")

	// As upstream: an empty `version:` means v1, `version: v2` the newer schema.
	stateloader.DefaultRegistry.RegisterComponentWithVersions("postgresql", components.Versioning{
		Preferred: components.VersionConstructor{Version: "v2", Constructor: statepgv2.NewPostgreSQLStateStore},
		Others:    []components.VersionConstructor{{Version: "v1", Constructor: statepgv1.NewPostgreSQLStateStore}},
		Default:   "v1",
	})
	stateloader.DefaultRegistry.RegisterComponent(statesqlite.NewSQLiteStateStore, "sqlite")

	bindingsloader.DefaultRegistry.RegisterInputBinding(cron.NewCron, "cron")
	bindingsloader.DefaultRegistry.RegisterOutputBinding(bindingshttp.NewHTTP, "http")
	bindingsloader.DefaultRegistry.RegisterOutputBinding(smtp.NewSMTP, "smtp")

	secretsloader.DefaultRegistry.RegisterComponent(secretsk8s.NewKubernetesSecretStore, "kubernetes")
	secretsloader.DefaultRegistry.RegisterComponent(secretsfile.NewLocalSecretStore, "local.file")
	secretsloader.DefaultRegistry.RegisterComponent(secretsenv.NewEnvSecretStore, "local.env")

	// mdns is the self-hosted default; sqlite works on a loopback-only host;
	// in Kubernetes daprd registers its own resolver.
	nrloader.DefaultRegistry.RegisterComponent(mdns.NewResolver, "mdns")
	nrloader.DefaultRegistry.RegisterComponent(nrsqlite.NewResolver, "sqlite")
}
