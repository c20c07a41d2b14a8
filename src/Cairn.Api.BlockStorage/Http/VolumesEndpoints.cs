using Cairn.Api.BlockStorage.Model;

namespace Cairn.Api.BlockStorage.Http;

/// <summary><c>/volumes</c>: create, list, detail, show, update, delete, metadata.</summary>
internal static class VolumesEndpoints
{
    private static readonly HashSet<string> SortKeys = new(StringComparer.Ordinal)
    {
        "id", "name", "status", "size", "created_at", "updated_at", "availability_zone", "bootable", "volume_type", "display_name", "project_id", "user_id",
    };

    private static readonly string[] Updatable = ["name", "description", "display_name", "display_description", "metadata"];

    public static void Map(RouteGroupBuilder g)
    {
        g.MapPost("/volumes", CreateAsync);
        g.MapGet("/volumes", (HttpContext ctx, VolumeWorkflows w, Views v, CinderCatalog t) => List(ctx, w, v, t, detail: false));
        g.MapGet("/volumes/detail", (HttpContext ctx, VolumeWorkflows w, Views v, CinderCatalog t) => List(ctx, w, v, t, detail: true));
        g.MapGet("/volumes/summary", (HttpContext ctx, VolumeWorkflows w) =>
        {
            var c = CinderRequest.Of(ctx);
            if (!c.AtLeast(12)) throw CinderError.NotFound("Volume summary could not be found. (it needs microversion 3.12 or later)");
            var all = c.IsAdmin && ctx.Request.Query["all_tenants"].ToString() is { Length: > 0 } at && CinderBody.ParseBool(at, "all_tenants");
            var vols = w.List(all ? null : c.Project);
            var summary = new JsonObject { ["total_size"] = vols.Sum(v => v.Gigabytes()), ["total_count"] = vols.Count };
            if (c.AtLeast(36))
            {
                var meta = new JsonObject();
                foreach (var v in vols)
                    foreach (var (k, val) in VolumeAttrs.Metadata(v.Attributes))
                    {
                        var list = meta[k] as JsonArray ?? [];
                        meta[k] = list;
                        if (!list.Any(x => x?.ToString() == val?.ToString())) list.Add(val?.DeepClone());
                    }
                summary["metadata"] = meta;
            }
            return Views.Json(new JsonObject { ["volume-summary"] = summary });
        });
        g.MapGet("/volumes/{id}", (HttpContext ctx, string id, VolumeWorkflows w, Views v) =>
        {
            var c = CinderRequest.Of(ctx);
            return Views.Json(new JsonObject { ["volume"] = v.Volume(c, w.Require(c, CinderBody.Id(id, "Volume"))) });
        });
        g.MapPut("/volumes/{id}", UpdateAsync);
        g.MapDelete("/volumes/{id}", async (HttpContext ctx, string id, VolumeWorkflows w, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            var vol = w.Require(c, CinderBody.Id(id, "Volume"));
            var cascade = ctx.Request.Query["cascade"].ToString() is { Length: > 0 } cs && CinderBody.ParseBool(cs, "cascade");
            var force = ctx.Request.Query["force"].ToString() is { Length: > 0 } fs && CinderBody.ParseBool(fs, "force");
            if (force) c.RequireAdmin();
            await w.DeleteAsync(c, vol, cascade, force, ct);
            return Results.StatusCode(202);
        });
        MetadataEndpoints.Map(g, "volumes");
    }

    private static async Task<IResult> CreateAsync(HttpContext ctx, VolumeWorkflows w, Views views, CancellationToken ct)
    {
        var c = CinderRequest.Of(ctx);
        var body = CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "volume");
        if (body["imageRef"] is JsonValue img && img.ToString().Length > 0)
            throw CinderError.BadRequest("Invalid input received: creating a volume from an image (imageRef) needs the Image service, which Cairn does not have.");
        if (body["backup_id"] is JsonValue b && b.ToString().Length > 0)
            throw CinderError.BadRequest("Invalid input received: creating a volume from a backup (backup_id) is not supported: Cairn has no backup service.");
        var req = new VolumeCreate(
            CinderBody.Size(body, "size", required: body["snapshot_id"] is null && body["source_volid"] is null),
            CinderBody.Text(body, "name") ?? CinderBody.Text(body, "display_name"),
            CinderBody.Text(body, "description", 65535) ?? CinderBody.Text(body, "display_description", 65535),
            CinderBody.Text(body, "volume_type"),
            CinderBody.Text(body, "availability_zone"),
            CinderBody.Metadata(body["metadata"]),
            CinderBody.Text(body, "snapshot_id") is { } sid ? CinderBody.Id(sid, "Snapshot") : null,
            CinderBody.Text(body, "source_volid") is { } vid ? CinderBody.Id(vid, "Source volume") : null,
            CinderBody.Bool(body["multiattach"], "multiattach") ?? false);
        var made = await w.CreateAsync(c, req, ct);
        return Views.Json(new JsonObject { ["volume"] = views.Volume(c, made, extended: false) }, 202);
    }

    private static IResult List(HttpContext ctx, VolumeWorkflows w, Views views, CinderCatalog types, bool detail)
    {
        var c = CinderRequest.Of(ctx);
        var q = ctx.Request.Query;
        var all = c.IsAdmin && q["all_tenants"].ToString() is { Length: > 0 } at && CinderBody.ParseBool(at, "all_tenants");
        var project = all ? (q["project_id"].ToString() is { Length: > 0 } p ? p : null) : c.Project;
        IEnumerable<VolumeRecord> items = w.List(project);
        items = Filter(items, q, c, types);
        var page = Listing.Page(items, q, SortKeys, Field, r => r.Id.ToString("D"), out var next);
        var arr = new JsonArray();
        foreach (var r in page) arr.Add(detail ? views.Volume(c, r) : Views.VolumeSummary(c, r));
        var o = new JsonObject { ["volumes"] = arr };
        if (next) o["volumes_links"] = Listing.NextLink(ctx.Request, page[^1].Id.ToString("D"));
        if (c.AtLeast(45) && q["with_count"].ToString() is { Length: > 0 } wc && CinderBody.ParseBool(wc, "with_count"))
            o["count"] = Filter(w.List(project), q, c, types).Count();
        return Views.Json(o);
    }

    private static IComparable? Field(VolumeRecord r, string key) => key switch
    {
        "id" => r.Id.ToString("D"),
        "name" or "display_name" => r.Str("name"),
        "status" => r.Status,
        "size" => r.Size,
        "created_at" => r.Created,
        "updated_at" => r.Updated,
        "availability_zone" => r.Str("availability_zone"),
        "bootable" => r.Flag("bootable"),
        "volume_type" => r.Str("volume_type_id"),
        "project_id" => r.Project,
        "user_id" => r.Str("user_id"),
        _ => null,
    };

    private static IEnumerable<VolumeRecord> Filter(IEnumerable<VolumeRecord> items, IQueryCollection q, CinderRequest c, CinderCatalog types)
    {
        foreach (var (key, values) in q)
        {
            if (Listing.Reserved.Contains(key) || key == "project_id") continue;
            var value = values.ToString();
            var like = key.EndsWith('~') && c.AtLeast(34);
            var k = like ? key[..^1] : key;
            items = k switch
            {
                "name" or "display_name" => items.Where(r => Match(r.Str("name"), value, like)),
                "description" or "display_description" => items.Where(r => Match(r.Str("description"), value, like)),
                "status" => items.Where(r => Match(r.Status, value, like)),
                "availability_zone" => items.Where(r => r.Str("availability_zone") == value),
                "bootable" => items.Where(r => r.Flag("bootable") == CinderBody.ParseBool(value, "bootable")),
                "size" => items.Where(r => r.Gigabytes().ToString(System.Globalization.CultureInfo.InvariantCulture) == value),
                "volume_type" => items.Where(r => r.Str("volume_type_id") == value || TypeName(r) == value),
                "user_id" => items.Where(r => r.Str("user_id") == value),
                "id" => items.Where(r => r.Id.ToString("D") == value),
                "metadata" => MetadataMatch(items, Listing.MetadataFilter(value)),
                "created_at" when c.AtLeast(60) => items.Where(r => Listing.TimeMatches(r.Created, value)),
                "updated_at" when c.AtLeast(60) => items.Where(r => Listing.TimeMatches(r.Updated, value)),
                // Cinder drops filters it does not know for admins and lists regardless: so does this (for everyone).
                _ => items,
            };
        }
        return items;

        string? TypeName(VolumeRecord r) => types.Get(r.Str("volume_type_id") ?? "")?.Name;
    }

    private static bool Match(string? actual, string wanted, bool like) =>
        like ? actual is not null && actual.Contains(wanted, StringComparison.OrdinalIgnoreCase) : actual == wanted;

    private static IEnumerable<VolumeRecord> MetadataMatch(IEnumerable<VolumeRecord> items, IReadOnlyDictionary<string, string> wanted) =>
        items.Where(r =>
        {
            var m = VolumeAttrs.Metadata(r.Attributes);
            return wanted.All(kv => m[kv.Key] is JsonValue v && v.ToString() == kv.Value);
        });

    private static async Task<IResult> UpdateAsync(HttpContext ctx, string id, VolumeWorkflows w, Views views, CancellationToken ct)
    {
        var c = CinderRequest.Of(ctx);
        c.RequireWrite();
        var vol = w.Require(c, CinderBody.Id(id, "Volume"));
        var body = CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "volume");
        if (body.Count == 0 || body.Any(p => !Updatable.Contains(p.Key)))
            throw CinderError.BadRequest(body.Count == 0
                ? "Invalid input for field/attribute volume. Value: {}. {} does not have enough properties"
                : $"Invalid input for field/attribute volume. Additional properties are not allowed ('{body.First(p => !Updatable.Contains(p.Key)).Key}' was unexpected)");
        var name = body.ContainsKey("name") ? CinderBody.Text(body, "name") : body.ContainsKey("display_name") ? CinderBody.Text(body, "display_name") : null;
        var desc = body.ContainsKey("description") ? CinderBody.Text(body, "description", 65535) : body.ContainsKey("display_description") ? CinderBody.Text(body, "display_description", 65535) : null;
        var meta = body.ContainsKey("metadata") ? CinderBody.Metadata(body["metadata"]) : null;
        var upd = await w.SetAttributesAsync(vol, a =>
        {
            if (body.ContainsKey("name") || body.ContainsKey("display_name")) a["name"] = name;
            if (body.ContainsKey("description") || body.ContainsKey("display_description")) a["description"] = desc;
            if (meta is not null) a["metadata"] = meta;
        }, ct);
        return Views.Json(new JsonObject { ["volume"] = views.Volume(c, upd, extended: false) });
    }
}

/// <summary><c>/volumes/{id}/metadata</c> and <c>/snapshots/{id}/metadata</c>: every verb, Cinder's answers.</summary>
internal static class MetadataEndpoints
{
    public static void Map(RouteGroupBuilder g, string collection)
    {
        var path = $"/{collection}/{{id}}/metadata";
        g.MapGet(path, (HttpContext ctx, string id, VolumeWorkflows w) =>
            Views.Json(new JsonObject { ["metadata"] = Of(ctx, w, collection, id).Current.DeepClone() }));
        g.MapPost(path, (HttpContext ctx, string id, VolumeWorkflows w, CancellationToken ct) => SetAsync(ctx, id, w, collection, replace: false, ct));
        g.MapPut(path, (HttpContext ctx, string id, VolumeWorkflows w, CancellationToken ct) => SetAsync(ctx, id, w, collection, replace: true, ct));
        g.MapGet(path + "/{key}", (HttpContext ctx, string id, string key, VolumeWorkflows w) =>
        {
            var m = Of(ctx, w, collection, id).Current;
            return m[key] is JsonValue v
                ? Views.Json(new JsonObject { ["meta"] = new JsonObject { [key] = v.DeepClone() } })
                : throw CinderError.NotFound($"Metadata item was not found");
        });
        g.MapPut(path + "/{key}", async (HttpContext ctx, string id, string key, VolumeWorkflows w, CancellationToken ct) =>
        {
            var target = Of(ctx, w, collection, id);
            CinderRequest.Of(ctx).RequireWrite();
            var body = await CinderBody.ReadAsync(ctx.Request, ct);
            var meta = CinderBody.Metadata(body["meta"] ?? throw CinderError.BadRequest("Malformed request body: 'meta' is required"), "meta");
            if (meta.Count > 1) throw CinderError.BadRequest("Request body contains too many items");
            if (meta.Count == 0 || !meta.ContainsKey(key)) throw CinderError.BadRequest("Request body and URI mismatch");
            await target.Write(m => m[key] = meta[key]!.DeepClone(), ct);
            return Views.Json(new JsonObject { ["meta"] = meta });
        });
        g.MapDelete(path + "/{key}", async (HttpContext ctx, string id, string key, VolumeWorkflows w, CancellationToken ct) =>
        {
            var target = Of(ctx, w, collection, id);
            CinderRequest.Of(ctx).RequireWrite();
            if (!target.Current.ContainsKey(key)) throw CinderError.NotFound("Metadata item was not found");
            await target.Write(m => m.Remove(key), ct);
            return Results.Ok();
        });
    }

    private static async Task<IResult> SetAsync(HttpContext ctx, string id, VolumeWorkflows w, string collection, bool replace, CancellationToken ct)
    {
        var target = Of(ctx, w, collection, id);
        CinderRequest.Of(ctx).RequireWrite();
        var body = await CinderBody.ReadAsync(ctx.Request, ct);
        var meta = CinderBody.Metadata(body["metadata"] ?? throw CinderError.BadRequest("Malformed request body: 'metadata' is required"));
        var result = await target.Write(m =>
        {
            if (replace) m.Clear();
            foreach (var (k, v) in meta) m[k] = v!.DeepClone();
        }, ct);
        return Views.Json(new JsonObject { ["metadata"] = (replace ? meta : result).DeepClone() });
    }

    private sealed record Target(JsonObject Current, Func<Action<JsonObject>, CancellationToken, Task<JsonObject>> Write);

    private static Target Of(HttpContext ctx, VolumeWorkflows w, string collection, string id)
    {
        var c = CinderRequest.Of(ctx);
        if (collection == "volumes")
        {
            var v = w.Require(c, CinderBody.Id(id, "Volume"));
            return new Target(VolumeAttrs.Metadata(v.Attributes), async (change, ct) =>
            {
                var upd = await w.SetAttributesAsync(v, a =>
                {
                    var m = a["metadata"] as JsonObject ?? [];
                    a["metadata"] = m;
                    change(m);
                }, ct);
                return VolumeAttrs.Metadata(upd.Attributes);
            });
        }
        var s = w.RequireSnapshot(c, CinderBody.Id(id, "Snapshot"));
        return new Target(VolumeAttrs.Metadata(s.Attributes), async (change, ct) =>
        {
            var upd = await w.PutSnapshotAsync(s, r => r with
            {
                Attributes = VolumeAttrs.With(r.Attributes, a =>
                {
                    var m = a["metadata"] as JsonObject ?? [];
                    a["metadata"] = m;
                    change(m);
                }),
            }, ct);
            return VolumeAttrs.Metadata(upd.Attributes);
        });
    }
}
