using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;

namespace Cairn.Store;

/// <summary>Value conversions between records and columns, and command helpers.</summary>
internal static class Sql
{
    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    public static object Time(DateTimeOffset? t) => t is { } v ? Time(v) : DBNull.Value;

    public static DateTimeOffset ReadTime(SqliteDataReader r, int i) =>
        DateTimeOffset.ParseExact(r.GetString(i), TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

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
