import Foundation

/// The published contract, `openapi.yaml`, as this build carries it.
public enum Contract {
    public static let openAPIDocument: Data = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let data = try? Data(contentsOf: url)
        else { return Data() }
        return data
    }()
}
