# A cloudspace as wharfd knows it (a Nomad region, or a node pool in one), the plan
# offered with it, and optionally its ingress: wharf-ingress as the Nomad system job of
# jobspecs/ingress.nomad.hcl, run with the nomad CLI exactly as an operator would by
# hand (`nomad job run -var ...`), and stopped when the cloudspace is destroyed.

resource "wharf_cloudspace" "this" {
  name           = var.name
  vendor         = var.vendor
  location       = var.location
  tenancy        = var.tenancy
  region         = var.region
  node_pool      = var.node_pool
  ingress_domain = var.ingress_domain
  ingress_port   = var.ingress_port
  registry       = var.registry
}

resource "wharf_plan" "this" {
  name                   = var.plan.name
  public                 = var.plan.public
  environments           = var.plan.environments
  instances_per_process  = var.plan.instances_per_process
  memory_mb_per_instance = var.plan.memory_mb_per_instance
  service_instances      = var.plan.service_instances
  custom_domains         = var.plan.custom_domains
  upload_mb              = var.plan.upload_mb
}

resource "terraform_data" "ingress" {
  count = var.ingress == null ? 0 : 1
  input = {
    region  = var.region
    job     = "wharf-ingress"
    jobspec = var.ingress.jobspec
    vars = [
      "region=${var.region}", "cloudspace=${var.name}", "node_pool=${var.node_pool}",
      "image=${var.ingress.image}", "consul_address=${var.ingress.consul_address}",
      "http_port=${var.ingress.http_port}", "https_port=${var.ingress.https_port}", "admin_port=${var.ingress.admin_port}",
      "acme_email=${var.ingress.acme_email}",
    ]
  }
  triggers_replace = [filesha256(var.ingress.jobspec), var.ingress]

  provisioner "local-exec" {
    command = "nomad job run -detach ${join(" ", [for v in self.input.vars : "'-var=${replace(v, "'", "'\\''")}'"])} '${self.input.jobspec}'"
  }
  provisioner "local-exec" {
    when    = destroy
    command = "nomad job stop -region=${self.input.region} -purge ${self.input.job}"
  }
}
