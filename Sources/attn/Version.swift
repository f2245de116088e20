enum AttnVersion {
    static let string = "0.1.0"
}
