# An application with its test and live environments: the same processes and variables
# in each, a database, media storage and custom domains where asked, and each environment in var.images
# deployed (and redeployed whenever its configuration changes).

locals {
  environments = toset(["test", "live"])
  deployed     = toset(keys(var.images))
  secret_names = nonsensitive(toset(keys(var.secrets)))
  variables    = { for p in setproduct(local.environments, keys(var.variables)) : "${p[0]}/${p[1]}" => { env = p[0], name = p[1] } }
  secrets      = { for p in setproduct(local.environments, local.secret_names) : "${p[0]}/${p[1]}" => { env = p[0], name = p[1] } }
  processes    = { for p in setproduct(local.environments, keys(var.processes)) : "${p[0]}/${p[1]}" => { env = p[0], name = p[1] } }
  domains = merge([for env, names in var.domains : {
    for i, d in names : d => { env = env, primary = i == 0 }
  }]...)
}

resource "wharf_application" "this" {
  org        = var.org
  name       = var.name
  cloudspace = var.cloudspace
  plan       = var.plan
}

resource "wharf_variable" "plain" {
  for_each = local.variables
  org      = var.org
  app      = wharf_application.this.name
  env      = each.value.env
  name     = each.value.name
  value    = var.variables[each.value.name]
}

resource "wharf_variable" "secret" {
  for_each         = local.secrets
  org              = var.org
  app              = wharf_application.this.name
  env              = each.value.env
  name             = each.value.name
  value_wo         = var.secrets[each.value.name]
  value_wo_version = var.secrets_version
}

resource "wharf_process" "this" {
  for_each    = local.processes
  org         = var.org
  app         = wharf_application.this.name
  env         = each.value.env
  name        = each.value.name
  command     = var.processes[each.value.name].command
  health_path = var.processes[each.value.name].health_path
  instances   = var.processes[each.value.name].instances
  memory_mb   = var.processes[each.value.name].memory_mb
}

resource "wharf_domain" "this" {
  for_each = local.domains
  org      = var.org
  app      = wharf_application.this.name
  env      = each.value.env
  name     = each.key
  primary  = each.value.primary
}

resource "wharf_database" "this" {
  for_each = var.database ? local.deployed : toset([])
  org      = var.org
  app      = wharf_application.this.name
  env      = each.key
  name     = "db"
}

resource "wharf_storage" "this" {
  for_each = var.storage ? local.deployed : toset([])
  org      = var.org
  app      = wharf_application.this.name
  env      = each.key
  name     = "media"
}

resource "wharf_deploy" "this" {
  for_each = local.deployed
  org      = var.org
  app      = wharf_application.this.name
  env      = each.key
  image    = var.images[each.key]
  # A new release whenever what it runs with changes.
  triggers = {
    variables = sha256(jsonencode({ for k, v in wharf_variable.plain : k => v.value if v.env == each.key }))
    secrets   = join(",", [for k in sort(keys(local.secrets)) : "${k}=${wharf_variable.secret[k].version}" if local.secrets[k].env == each.key])
    processes = sha256(jsonencode({ for k, p in wharf_process.this : k => [p.command, p.health_path] if p.env == each.key }))
    database  = join(",", [for k, d in wharf_database.this : d.database if k == each.key])
    storage   = join(",", [for k, b in wharf_storage.this : b.bucket if k == each.key])
  }
  # Scale and domains apply without a release, but before it goes live.
  depends_on = [wharf_process.this, wharf_domain.this]
}
