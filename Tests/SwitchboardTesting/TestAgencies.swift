import Settings

/// Three agencies, one with its own retry policy and one with a signing secret, for tests of
/// agencies.yaml and of rules that route to them.
public let agenciesText = """
    agencies:
      - id: spa
        name: Adult Social Care
        adapter: json-webhook
        endpoint: http://127.0.0.1:9101/referrals
      - id: falls
        name: Falls Service
        adapter: json-webhook
        endpoint: http://127.0.0.1:9102/referrals
        retry:
          max_attempts: 3
          initial_backoff_seconds: 0.5
          max_backoff_seconds: 10
      - id: mash
        name: Safeguarding Hub
        adapter: json-webhook
        endpoint: https://mash.example.gov.uk/in
        secret_env: MASH_SECRET
    """

public func directory() throws -> AgencyDirectory {
    try AgencyDirectory.parse(agenciesText, file: "agencies.yaml", adapters: ["json-webhook"])
}
