import AdapterKit
import JSONWebhookAdapter

/// The adapter plugins compiled into this build. Adding a plugin is one line here.
public enum AdapterCatalogue {
    public static let registry: AdapterRegistry = {
        var registry = AdapterRegistry()
        registry.register(JSONWebhookAdapter())
        return registry
    }()
}
