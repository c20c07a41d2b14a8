using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;

namespace Cairn.Store;

/// <summary>Value conversions between records and columns, and command helpers.</summary>
internal static class Sql
{
    public const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    public static object Time(DateTimeOffset? t) => t is { } v ? Time(v) : DBNull.Value;

    public static DateTimeOffset ReadTime(SqliteDataReader r, int i) => ParseTime(r.GetString(i));

    // Status reads parse two times per item; the fixed-width form we write is parsed by hand (several times faster
    // than ParseExact), anything else falls back to ParseExact.
    public static DateTimeOffset ParseTime(string s)
    {
        if (s.Length == 28 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[19] == '.' && s[27] == 'Z')
        {
            var span = s.AsSpan();
            if (Digits(span[..4], out var y) && Digits(span.Slice(5, 2), out var mo) && Digits(span.Slice(8, 2), out var d)
                && Digits(span.Slice(11, 2), out var h) && Digits(span.Slice(14, 2), out var mi) && Digits(span.Slice(17, 2), out var sec)
                && Digits(span.Slice(20, 7), out var frac))
            {
                return new DateTimeOffset(new DateTime(y, mo, d, h, mi, sec, DateTimeKind.Utc).Ticks + frac, TimeSpan.Zero);
            }
        }
        return DateTimeOffset.ParseExact(s, TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
    }

    private static bool Digits(ReadOnlySpan<char> s, out int value)
    {
        value = 0;
        foreach (var c in s)
        {
            var digit = c - '0';
            if ((uint)digit > 9) return false;
            value = value * 10 + digit;
        }
        return true;
    }

    public static DateTimeOffset? ReadTimeOrNull(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : ReadTime(r, i);

    public static string? ReadStringOrNull(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    public static object Node(JsonNode? n) => n is null ? DBNull.Value : n.ToJsonString();

    public static JsonNode? ReadNode(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : JsonNode.Parse(r.GetString(i));

    public static JsonObject? ReadObject(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : JsonNode.Parse(r.GetString(i)) as JsonObject;

    public static object Ser<T>(T? value) => value is null ? DBNull.Value : JsonSerializer.Serialize(value, Json);

    public static T? De<T>(SqliteDataReader r, int i) => r.IsDBNull(i) ? default : JsonSerializer.Deserialize<T>(r.GetString(i), Json);

    public static string Id(Guid id) => id.ToString("D");

    /// <summary>Binds <paramref name="args"/> to <c>@p0</c>, <c>@p1</c>, … of a cached (prepared) command.</summary>
    public static void Bind(SqliteCommand cmd, object?[] args)
    {
        var ps = cmd.Parameters;
        if (ps.Count != args.Length)
        {
            ps.Clear();
            for (var i = 0; i < args.Length; i++) ps.Add(new SqliteParameter("@p" + i.ToString(CultureInfo.InvariantCulture), args[i] ?? DBNull.Value));
            return;
        }
        for (var i = 0; i < args.Length; i++) ps[i].Value = args[i] ?? DBNull.Value;
    }

    /// <summary>Opens a connection with the settings every store connection shares.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "Constant PRAGMA texts.")]
    public static SqliteConnection Open(string path, bool readOnly)
    {
        var cs = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false, // the store pools its own connections, and a closed store must release the file
            DefaultTimeout = 30,
        }.ToString();
        var conn = new SqliteConnection(cs);
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = readOnly
            ? "PRAGMA query_only = ON; PRAGMA busy_timeout = 30000;"
            : "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 30000;";
        cmd.ExecuteNonQuery();
        return conn;
    }
}
