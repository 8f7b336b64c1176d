/// Formats the `Date` header field value without Foundation.
public enum HTTPDate {
    private static let weekdayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats a time as an IMF-fixdate (RFC 9110, section 5.6.7), such as
    /// `Sun, 06 Nov 1994 08:49:37 GMT`.
    ///
    /// Callers on a hot path should format once per second and reuse the result.
    /// - Parameter secondsSince1970: whole seconds since 1970-01-01 00:00:00 UTC.
    public static func imfFixdate(secondsSince1970: Int) -> String {
        let days = floorDivide(secondsSince1970, 86_400)
        let secondOfDay = secondsSince1970 - days * 86_400
        let (year, month, day) = civilDate(daysSince1970: days)
        // 1970-01-01 was a Thursday, index 4 in `weekdayNames`.
        let weekday = (days % 7 + 7 + 4) % 7

        var text = weekdayNames[weekday] + ", "
        text += twoDigits(day) + " " + monthNames[month - 1] + " " + String(year) + " "
        text += twoDigits(secondOfDay / 3600) + ":" + twoDigits(secondOfDay / 60 % 60) + ":"
        text += twoDigits(secondOfDay % 60) + " GMT"
        return text
    }

    /// Converts a day count since 1970-01-01 into a proleptic Gregorian date.
    ///
    /// The calculation shifts the year to start on March 1, so that the leap
    /// day is the last day of its year, and then counts in 400-year cycles of
    /// 146,097 days.
    internal static func civilDate(daysSince1970: Int) -> (year: Int, month: Int, day: Int) {
        // 719,468 days separate 0000-03-01 from 1970-01-01.
        let shiftedDays = daysSince1970 + 719_468
        let cycle = floorDivide(shiftedDays, 146_097)
        let dayOfCycle = shiftedDays - cycle * 146_097
        let yearOfCycle = (dayOfCycle - dayOfCycle / 1460 + dayOfCycle / 36_524 - dayOfCycle / 146_096) / 365
        let dayOfYear = dayOfCycle - (365 * yearOfCycle + yearOfCycle / 4 - yearOfCycle / 100)
        // Months counted from March, each five-month group lasting 153 days.
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfCycle + cycle * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func floorDivide(_ value: Int, _ divisor: Int) -> Int {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }

    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0" + String(value) : String(value)
    }
}
