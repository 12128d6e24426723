import AdapterKit
import BaRSAdapter
import FHIRR4Adapter
import JSONWebhookAdapter
import PortalAdapter
import TemplateAdapter

/// The adapter plugins compiled into this build. Adding a plugin is one line here.
public enum AdapterCatalogue {
    public static let registry: AdapterRegistry = {
        var registry = AdapterRegistry()
        registry.register(JSONWebhookAdapter.self)
        registry.register(FHIRR4Adapter.self)
        registry.register(BaRSAdapter.self)
        registry.register(TemplateAdapter.self)
        registry.register(PortalAdapter.self)
        return registry
    }()
}
