# A first application, against `make dev`:
#
#   export WHARF_TOKEN=$(cat ~/.local/share/wharf/dev/admin-token)
#   tofu init && tofu apply -var greeting=hello -var db_password=s3cret
#   curl -H 'Host: shop.example.test' http://127.0.0.1:18000/   # its primary domain; test.shop.acme.localhost redirects there
#   tofu destroy
#
# The secret reaches Vault through a write-only argument: it is in neither the plan nor
# the state.

terraform {
  required_version = ">= 1.11"
  required_providers {
    wharf = {
      source = "wharf-platform/wharf"
    }
  }
}

variable "wharf_addr" {
  type    = string
  default = "http://127.0.0.1:18080" # make dev's wharfd; the token comes from WHARF_TOKEN
}

variable "cloudspace" {
  type    = string
  default = "local" # registered by make dev
}

variable "plan" {
  type    = string
  default = "dev" # registered by make dev
}

variable "org" {
  type    = string
  default = "acme"
}

variable "display_name" {
  type    = string
  default = "ACME"
}

variable "media" {
  type    = bool
  default = false # true attaches media storage (STORAGE_DSN) to test
}

variable "web_instances" {
  type    = number
  default = 1
}

variable "greeting" {
  type    = string
  default = "hello"
}

variable "db_password" {
  type      = string
  sensitive = true
}

variable "db_password_version" {
  type    = number
  default = 1
}

provider "wharf" {
  address = var.wharf_addr
}

data "wharf_cloudspace" "this" {
  name = var.cloudspace
}

resource "wharf_organisation" "this" {
  name         = var.org
  display_name = var.display_name
}

module "shop" {
  source     = "../../modules/application"
  org        = wharf_organisation.this.name
  name       = "shop"
  cloudspace = data.wharf_cloudspace.this.name
  plan       = var.plan
  images     = { test = "wharf/busybox:1" }
  processes = {
    web = {
      # Serves the greeting and, to show that it arrived, the secret.
      command   = "mkdir -p /www && echo \"$GREETING from release $WHARF_RELEASE\" > /www/index.html && printf %s \"$DB_PASSWORD\" > /www/secret && exec httpd -f -p \"$PORT\" -h /www"
      instances = var.web_instances
      memory_mb = 32
    }
  }
  variables       = { GREETING = var.greeting }
  secrets         = { DB_PASSWORD = var.db_password }
  secrets_version = var.db_password_version
  domains         = { test = ["shop.example.test"] }
  storage         = var.media
}

output "urls" {
  value = module.shop.urls
}

output "releases" {
  value = module.shop.releases
}
