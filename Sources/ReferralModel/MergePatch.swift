/// JSON Merge Patch (RFC 7396): how a referrer amends a referral. An object patch sets each member
/// it names (recursively for objects), removes those it sets to `null`, and leaves the rest alone;
/// any other patch replaces the target whole.
extension JSONValue {
    public func merging(_ patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var members: [(key: String, value: JSONValue)] = []
        if case .object(let target) = self { members = target.members }
        for change in changes.members {
            let index = members.firstIndex { $0.key == change.key }
            if case .null = change.value {
                if let index { members.remove(at: index) }
            } else if let index {
                members[index].value = members[index].value.merging(change.value)
            } else {
                members.append((change.key, JSONValue.null.merging(change.value)))
            }
        }
        return .object(JSONObject(members))
    }

    /// The JSON Pointers (RFC 6901) of the leaves that differ between `self` and `other`: a member
    /// added, removed or changed, an array changed as a whole.
    public func changedPointers(comparedWith other: JSONValue, at path: String = "") -> [String] {
        guard case .object(let mine) = self, case .object(let theirs) = other else { return self == other ? [] : [path.isEmpty ? "/" : path] }
        var keys = mine.members.map(\.key)
        for key in theirs.members.map(\.key) where !keys.contains(key) { keys.append(key) }
        return keys.sorted().flatMap { key -> [String] in
            let pointer = jsonPointer(path, key)
            switch (mine[key], theirs[key]) {
            case (let left?, let right?): return left.changedPointers(comparedWith: right, at: pointer)
            case (nil, nil): return []
            default: return [pointer]
            }
        }
    }

    /// The member at a JSON Pointer's first segment, for reading a patch.
    public func member(_ key: String) -> JSONValue? {
        guard case .object(let object) = self else { return nil }
        return object[key]
    }
}

extension JSONValue {
    /// The pointers of the members `patch` sets to `null` where `self` has none: removals that
    /// remove nothing, which a decoder of the merged document never sees, so a misspelt or unknown
    /// member would pass unnoticed.
    public func removalsOfNothing(in patch: JSONValue, at path: String = "") -> [String] {
        guard case .object(let changes) = patch else { return [] }
        return changes.members.flatMap { change -> [String] in
            let pointer = jsonPointer(path, change.key)
            let current = member(change.key)
            if case .null = change.value { return current == nil ? [pointer] : [] }
            return (current ?? .null).removalsOfNothing(in: change.value, at: pointer)
        }
    }

    /// `patch` with each removal of nothing made a placeholder value instead, so decoding the merge
    /// says whether its member is one the document may have.
    public func probing(_ patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        return .object(
            JSONObject(
                changes.members.map { change in
                    let current = member(change.key)
                    if case .null = change.value { return (change.key, current == nil ? .string("") : .null) }
                    return (change.key, (current ?? .null).probing(change.value))
                }))
    }
}
