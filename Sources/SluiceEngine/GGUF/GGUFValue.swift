/// One metadata value of a GGUF file.
///
/// Arrays may nest. The accessors convert between integer widths and float
/// widths, so callers need not know which width the file's writer chose.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case uint64(UInt64)
    case int64(Int64)
    case float32(Float)
    case float64(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    /// The value as a string, or nil when it is not a string.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value as an `Int`, or nil when it is not an integer or does not fit in `Int`.
    public var integer: Int? {
        switch self {
        case .uint8(let value): return Int(value)
        case .int8(let value): return Int(value)
        case .uint16(let value): return Int(value)
        case .int16(let value): return Int(value)
        case .uint32(let value): return Int(value)
        case .int32(let value): return Int(value)
        case .uint64(let value): return Int(exactly: value)
        case .int64(let value): return Int(value)
        default: return nil
        }
    }

    /// The value as a `Double`; integers convert too. Nil for strings, booleans and arrays.
    public var float: Double? {
        switch self {
        case .float32(let value): return Double(value)
        case .float64(let value): return value
        default: return integer.map(Double.init)
        }
    }

    /// The elements, or nil when the value is not an array.
    public var array: [GGUFValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    /// The elements as strings, or nil unless the value is an array of strings only.
    public var strings: [String]? {
        guard let values = array else { return nil }
        var result: [String] = []
        result.reserveCapacity(values.count)
        for value in values {
            guard let element = value.string else { return nil }
            result.append(element)
        }
        return result
    }

    /// The elements as `Int`s, or nil unless the value is an array of integers that fit in `Int`.
    public var integers: [Int]? {
        guard let values = array else { return nil }
        var result: [Int] = []
        result.reserveCapacity(values.count)
        for value in values {
            guard let element = value.integer else { return nil }
            result.append(element)
        }
        return result
    }

    /// The elements as `Double`s, or nil unless the value is an array of numbers.
    public var floats: [Double]? {
        guard let values = array else { return nil }
        var result: [Double] = []
        result.reserveCapacity(values.count)
        for value in values {
            guard let element = value.float else { return nil }
            result.append(element)
        }
        return result
    }
}
