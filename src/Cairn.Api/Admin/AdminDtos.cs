using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Core;
using Cairn.Core.Pools;
using Cairn.Core.Services;
using Cairn.Core.Storage;

namespace Cairn.Api.Admin;

/// <summary>
/// Builds the admin API's answers (the Cairn.Contracts records) from core views. Static extensions, so that the
/// contracts stay free of core types while <c>VolumeDto.From(view)</c> reads as before.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1708", Justification = "C# 14 extension blocks: the analyzer sees each extension(T) block as a member named after its receiver type")]
public static class AdminDtos
{
    extension(VolumeDto)
    {
        public static VolumeDto From(VolumeView v) => new(v.Id, v.Dataset.Name, v.Dataset.Kind == DatasetKind.Folder ? "folder" : "volume",
            v.Dataset.Size, v.Dataset.Used, v.Dataset.Referenced, v.Dataset.Origin, v.Status, v.Record?.Project ?? VolumeService.AdminProject, v.Dataset.Created);
    }

    extension(SnapshotDto)
    {
        public static SnapshotDto From(SnapshotInfo s) => new(s.Id, s.FullName, s.Dataset, s.Name, s.Size, s.Used, s.Referenced, s.Clones, s.Created);
    }

    extension(PoolDto)
    {
        public static PoolDto From(PoolView p) => new(p.Name, p.Engine, p.Error is null ? "online" : "unavailable",
            p.Space?.Size, p.Space?.Allocated, p.Space?.Free, p.Space?.Datasets, p.Space?.Snapshots,
            [.. Enum.GetValues<EngineCapabilities>().Where(c => c != EngineCapabilities.None && p.Capabilities.HasFlag(c)).Select(c => c.ToString().ToLowerInvariant())],
            p.Record.Created, p.Error, p.Space?.Volumes, p.Space?.Folders);
    }
}

internal static class AdminParse
{
    /// <summary>A size given as a number of bytes or a string like "10G".</summary>
    public static long Size(JsonElement? size)
    {
        if (size is not { } e || e.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) throw CairnException.Invalid("'size' is required");
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var n)) return n;
        if (e.ValueKind == JsonValueKind.String) return Sizes.Parse(e.GetString());
        throw CairnException.Invalid("size: expected a string or number (bytes, or a size such as \"10G\")");
    }

    public static string Required(string? value, string field) =>
        string.IsNullOrEmpty(value) ? throw CairnException.Invalid($"'{field}' is required") : value;

    public static JsonObject? Obj(object o) => JsonSerializer.SerializeToNode(o, Json.Options) as JsonObject;
}
