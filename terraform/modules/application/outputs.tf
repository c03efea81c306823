output "environments" {
  value       = wharf_application.this.environments
  description = "The application's environments."
}

output "urls" {
  value       = { for env, d in wharf_deploy.this : env => d.url }
  description = "Where each deployed environment answers."
}

output "releases" {
  value       = { for env, d in wharf_deploy.this : env => d.release }
  description = "The release each deployed environment runs."
}
