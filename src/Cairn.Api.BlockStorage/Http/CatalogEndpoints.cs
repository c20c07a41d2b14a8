using System.Globalization;
using Cairn.Api.BlockStorage.Model;

namespace Cairn.Api.BlockStorage.Http;

/// <summary>Volume types and extra specs, the default type, quotas, limits, availability zones, services, extensions.</summary>
internal static class CatalogEndpoints
{
    public static void Map(RouteGroupBuilder g)
    {
        MapTypes(g);
        TypeAccessEndpoints.Map(g);
        MapQuotas(g);
        g.MapGet("/limits", (HttpContext ctx, CinderCatalog cat, VolumeWorkflows w) =>
        {
            var c = CinderRequest.Of(ctx);
            var q = cat.Quota(c.Project);
            var used = w.Usage(c.Project);
            return Views.Json(new JsonObject
            {
                ["limits"] = new JsonObject
                {
                    ["rate"] = new JsonArray(),
                    ["absolute"] = new JsonObject
                    {
                        ["totalSnapshotsUsed"] = used.Snapshots,
                        ["maxTotalBackups"] = q["backups"],
                        ["maxTotalVolumeGigabytes"] = q["gigabytes"],
                        ["maxTotalSnapshots"] = q["snapshots"],
                        ["maxTotalBackupGigabytes"] = q["backup_gigabytes"],
                        ["totalBackupGigabytesUsed"] = 0,
                        ["maxTotalVolumes"] = q["volumes"],
                        ["totalVolumesUsed"] = used.Volumes,
                        ["totalBackupsUsed"] = 0,
                        ["totalGigabytesUsed"] = used.Gigabytes,
                    },
                },
            });
        });
        g.MapGet("/os-availability-zone", (BlockStorageOptions o) => Views.Json(new JsonObject
        {
            ["availabilityZoneInfo"] = new JsonArray(new JsonObject { ["zoneName"] = o.AvailabilityZone, ["zoneState"] = new JsonObject { ["available"] = true } }),
        }));
        g.MapGet("/os-services", (HttpContext ctx, BlockStorageOptions o, Core.Pools.PoolRouter pools) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var now = Cinder.Time(DateTimeOffset.UtcNow);
            var binary = ctx.Request.Query["binary"].ToString();
            var host = ctx.Request.Query["host"].ToString();
            var list = new JsonArray();
            foreach (var (bin, h, up) in new[] { ("cinder-scheduler", o.Host.Split('@')[0], true), ("cinder-volume", o.Host, pools.Has(o.Pool)) })
            {
                if (binary.Length > 0 && binary != bin) continue;
                if (host.Length > 0 && host != h && !h.StartsWith(host + "@", StringComparison.Ordinal)) continue; // Cinder: HOST matches HOST@backend too
                var s = new JsonObject
                {
                    ["binary"] = bin, ["host"] = h, ["zone"] = o.AvailabilityZone, ["status"] = "enabled", ["state"] = up ? "up" : "down",
                    ["updated_at"] = now, ["disabled_reason"] = null,
                };
                if (c.AtLeast(7)) s["cluster"] = null;
                if (bin == "cinder-volume")
                {
                    s["frozen"] = false;
                    s["replication_status"] = "disabled";
                    s["active_backend_id"] = null;
                }
                if (c.AtLeast(49)) s["backend_state"] = up ? "up" : "down";
                list.Add(s);
            }
            return Views.Json(new JsonObject { ["services"] = list });
        });
        g.MapGet("/extensions", () => Views.Json(new JsonObject { ["extensions"] = Extensions() }));
        g.MapGet("/extensions/{alias}", (string alias) =>
            Extensions().OfType<JsonObject>().FirstOrDefault(e => VolumeAttrs.Str(e, "alias") == alias) is { } e
                ? Views.Json(new JsonObject { ["extension"] = e.DeepClone() })
                : throw CinderError.NotFound($"Extension {alias} could not be found."));
    }

    /// <summary>The extensions this API serves (Cinder's aliases for what is implemented; nothing else).</summary>
    private static JsonArray Extensions()
    {
        var list = new JsonArray();
        foreach (var (alias, name, desc) in new[]
        {
            ("os-availability-zone", "AvailabilityZones", "Describe Availability Zones."),
            ("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes", "Extended SnapshotAttributes support."),
            ("os-vol-tenant-attr", "VolumeTenantAttribute", "Expose the internal project_id as an attribute of a volume."),
            ("os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume."),
            ("os-vol-mig-status-attr", "VolumeMigStatusAttribute", "Expose migration_status as an attribute of a volume."),
            ("os-volume-actions", "VolumeActions", "Enable volume actions."),
            ("os-admin-actions", "AdminActions", "Enable admin actions."),
            ("os-quota-sets", "Quotas", "Quota management support."),
            ("os-services", "Services", "Services support."),
            ("os-types-manage", "TypesManage", "Types manage support."),
            ("os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support."),
            ("os-volume-type-access", "VolumeTypeAccess", "Volume type access support."),
            ("encryption", "VolumeTypeEncryption", "Encryption support for volume types."),
            ("os-volume-manage", "VolumeManage", "Allows existing backend storage to be 'managed' by Cinder."),
            ("os-volume-unmanage", "VolumeUnmanage", "Enable volume unmanage operation."),
        })
        {
            list.Add(new JsonObject
            {
                ["alias"] = alias, ["description"] = desc, ["links"] = new JsonArray(), ["name"] = name,
                ["namespace"] = $"https://docs.openstack.org/volume/ext/{alias}/api/v1", ["updated"] = "2013-01-01T00:00:00+00:00",
            });
        }
        // StarlingX's extensions (seed 002), with their own namespaces and dates as the original lists them.
        foreach (var (alias, name, desc, updated) in new[]
        {
            ("wrs-snapshot", "WrsSnapshotExportAction", "Enable snapshot export to file", "2014-08-16T00:00:00+00:00"),
            ("wrs-volume", "WrsVolumeExport", "Enable volume export/import", "2014-08-11T00:00:00+00:00"),
        })
        {
            list.Add(new JsonObject
            {
                ["alias"] = alias, ["description"] = desc, ["links"] = new JsonArray(), ["name"] = name,
                ["namespace"] = $"http://docs.windriver.com/volume/ext/{alias}/api/v1.0", ["updated"] = updated,
            });
        }
        return list;
    }

    // ------------------------------------------------------------------ types

    private static void MapTypes(RouteGroupBuilder g)
    {
        g.MapGet("/types", (HttpContext ctx, CinderCatalog cat) =>
        {
            var c = CinderRequest.Of(ctx);
            var q = ctx.Request.Query;
            IEnumerable<VolumeType> types = cat.Types();
            // Cinder's types index: only admins choose with is_public (absent = true, "none" = every type, false = the
            // private ones); true means the public types and the private ones the caller's project has access to.
            bool? pub = c.IsAdmin ? IsPublicFilter(q["is_public"]) : true;
            types = pub switch
            {
                null => types,
                true => types.Where(t => t.IsPublic || t.Projects.Contains(c.Project, StringComparer.Ordinal)),
                false => types.Where(t => !t.IsPublic),
            };
            var arr = new JsonArray();
            foreach (var t in types.OrderBy(t => t.Name, StringComparer.Ordinal)) arr.Add(Views.Type(c, t));
            return Views.Json(new JsonObject { ["volume_types"] = arr });
        });
        g.MapGet("/types/default", (HttpContext ctx, CinderCatalog cat) =>
            Views.Json(new JsonObject { ["volume_type"] = Views.Type(CinderRequest.Of(ctx), cat.Default()) }));
        g.MapGet("/types/{id}", (HttpContext ctx, string id, CinderCatalog cat) =>
        {
            var c = CinderRequest.Of(ctx);
            return Views.Json(new JsonObject { ["volume_type"] = Views.Type(c, RequireType(c, cat, id)) });
        });
        g.MapPost("/types", async (HttpContext ctx, CinderCatalog cat, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var body = CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "volume_type");
            var name = CinderBody.Text(body, "name")?.Trim();
            if (string.IsNullOrEmpty(name)) throw CinderError.BadRequest("Invalid input for field/attribute name. Value: None. Volume type name can not be empty.");
            var pub = CinderBody.Bool(body["os-volume-type-access:is_public"] ?? body["is_public"], "is_public") ?? true;
            var t = await cat.CreateAsync(name, CinderBody.Text(body, "description"), pub, Specs(body["extra_specs"]), ct);
            return Views.Json(new JsonObject { ["volume_type"] = Views.Type(c, t, "create") });
        });
        g.MapPut("/types/{id}", async (HttpContext ctx, string id, CinderCatalog cat, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var t = RequireType(c, cat, id);
            var body = CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "volume_type");
            var name = body.ContainsKey("name") ? CinderBody.Text(body, "name")?.Trim() : t.Name;
            if (string.IsNullOrEmpty(name)) throw CinderError.BadRequest("Invalid input received: Volume type name can not be empty.");
            if (t.Name == CinderCatalog.DefaultTypeName && name != t.Name) throw CinderError.BadRequest("Invalid input received: The __DEFAULT__ volume type can not be renamed.");
            var upd = await cat.UpdateAsync(t with
            {
                Name = name,
                Description = body.ContainsKey("description") ? CinderBody.Text(body, "description") : t.Description,
                IsPublic = CinderBody.Bool(body["is_public"], "is_public") ?? t.IsPublic,
            }, ct);
            return Views.Json(new JsonObject { ["volume_type"] = Views.Type(c, upd, "update") });
        });
        g.MapDelete("/types/{id}", async (HttpContext ctx, string id, CinderCatalog cat, VolumeWorkflows w, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var t = RequireType(c, cat, id);
            await cat.DeleteAsync(t, w.List(null).Any(v => v.Str("volume_type_id") == t.Id), ct);
            return Results.StatusCode(202);
        });
        g.MapGet("/types/{id}/extra_specs", (HttpContext ctx, string id, CinderCatalog cat) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            return Views.Json(new JsonObject { ["extra_specs"] = SpecsJson(RequireType(c, cat, id).ExtraSpecs) });
        });
        g.MapPost("/types/{id}/extra_specs", async (HttpContext ctx, string id, CinderCatalog cat, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var t = RequireType(c, cat, id);
            var specs = Specs((await CinderBody.ReadAsync(ctx.Request, ct))["extra_specs"] ?? throw CinderError.BadRequest("Malformed request body: 'extra_specs' is required"));
            var merged = new Dictionary<string, string>(t.ExtraSpecs, StringComparer.Ordinal);
            foreach (var (k, v) in specs) merged[k] = v;
            await cat.UpdateAsync(t with { ExtraSpecs = merged }, ct);
            return Views.Json(new JsonObject { ["extra_specs"] = SpecsJson(specs) });
        });
        g.MapGet("/types/{id}/extra_specs/{key}", (HttpContext ctx, string id, string key, CinderCatalog cat) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            return RequireType(c, cat, id).ExtraSpecs.TryGetValue(key, out var v)
                ? Views.Json(new JsonObject { [key] = v })
                : throw CinderError.NotFound($"Volume Type {id} has no extra specs with key {key}.");
        });
        g.MapPut("/types/{id}/extra_specs/{key}", async (HttpContext ctx, string id, string key, CinderCatalog cat, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var t = RequireType(c, cat, id);
            var specs = Specs(await CinderBody.ReadAsync(ctx.Request, ct));
            if (specs.Count > 1) throw CinderError.BadRequest("Request body contains too many items.");
            if (!specs.TryGetValue(key, out var value)) throw CinderError.BadRequest("Request body and URI mismatch");
            var merged = new Dictionary<string, string>(t.ExtraSpecs, StringComparer.Ordinal) { [key] = value };
            await cat.UpdateAsync(t with { ExtraSpecs = merged }, ct);
            return Views.Json(new JsonObject { [key] = value });
        });
        g.MapDelete("/types/{id}/extra_specs/{key}", async (HttpContext ctx, string id, string key, CinderCatalog cat, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var t = RequireType(c, cat, id);
            if (!t.ExtraSpecs.ContainsKey(key)) throw CinderError.NotFound($"Volume Type {id} has no extra specs with key {key}.");
            await cat.UpdateAsync(t with { ExtraSpecs = t.ExtraSpecs.Where(p => p.Key != key).ToDictionary(StringComparer.Ordinal) }, ct);
            return Results.StatusCode(202);
        });
    }

    internal static VolumeType RequireType(CinderRequest c, CinderCatalog cat, string id) =>
        cat.Get(id) is { } t && t.VisibleTo(c.IsAdmin, c.Project) ? t : throw CinderError.NotFound($"Volume type {id} could not be found.");

    private static bool? IsPublicFilter(Microsoft.Extensions.Primitives.StringValues values)
    {
        if (values.Count == 0) return true;
        var text = values.ToString();
        if (text.Equals("none", StringComparison.OrdinalIgnoreCase)) return null;
        return text.Trim().ToLowerInvariant() switch
        {
            "true" or "1" or "yes" or "y" or "on" or "t" => true,
            "false" or "0" or "no" or "n" or "off" or "f" => false,
            _ => throw CinderError.BadRequest($"Invalid is_public filter [{text}]"),
        };
    }

    private static Dictionary<string, string> Specs(JsonNode? n)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (n is null) return result;
        if (n is not JsonObject o) throw CinderError.BadRequest($"Invalid input for field/attribute extra_specs. Value: {CinderBody.Show(n)}. Not an object.");
        foreach (var (k, v) in o)
        {
            if (k.Length is 0 or > 255) throw CinderError.BadRequest($"Invalid input for field/attribute extra_specs. Key '{k}' must be 1 to 255 characters.");
            result[k] = v switch
            {
                JsonValue s when s.TryGetValue<string>(out var str) => str.Length <= 255 ? str : throw CinderError.BadRequest($"Invalid input for field/attribute {k}: value is too long"),
                JsonValue b when b.TryGetValue<bool>(out var flag) => flag ? "True" : "False",
                JsonValue i when i.TryGetValue<long>(out var num) => num.ToString(CultureInfo.InvariantCulture),
                _ => throw CinderError.BadRequest($"Invalid input for field/attribute {k}. Value: {CinderBody.Show(v)}. Extra specs values must be strings."),
            };
        }
        return result;
    }

    private static JsonObject SpecsJson(IReadOnlyDictionary<string, string> specs)
    {
        var o = new JsonObject();
        foreach (var (k, v) in specs) o[k] = v;
        return o;
    }

    // ------------------------------------------------------------------ quotas

    private static void MapQuotas(RouteGroupBuilder g)
    {
        g.MapGet("/os-quota-sets/{project}/defaults", (HttpContext ctx, string project, CinderCatalog cat) =>
            Views.Json(new JsonObject { ["quota_set"] = QuotaSet(project, cat.QuotaDefaults(), null) }));
        g.MapGet("/os-quota-sets/{project}", (HttpContext ctx, string project, CinderCatalog cat, VolumeWorkflows w) =>
        {
            var c = CinderRequest.Of(ctx);
            if (project != c.Project && !c.IsAdmin) throw CinderError.Forbidden();
            var usage = ctx.Request.Query["usage"].ToString() is { Length: > 0 } u && CinderBody.ParseBool(u, "usage");
            return Views.Json(new JsonObject { ["quota_set"] = QuotaSet(project, cat.Quota(project), usage ? w.Usage(project) : null) });
        });
        g.MapPut("/os-quota-sets/{project}", async (HttpContext ctx, string project, CinderCatalog cat, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var values = QuotaValues(CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "quota_set"));
            await cat.SetQuotaAsync(project, values, ct);
            var all = cat.Quota(project);
            var o = new JsonObject();
            foreach (var k in QuotaResources.Reported) o[k] = all[k];
            return Views.Json(new JsonObject { ["quota_set"] = o });
        });
        g.MapDelete("/os-quota-sets/{project}", async (HttpContext ctx, string project, CinderCatalog cat, CancellationToken ct) =>
        {
            CinderRequest.Of(ctx).RequireAdmin();
            await cat.ResetQuotaAsync(project, ct);
            return Results.Ok();
        });
        // Cinder's quota class "default" sets the defaults of every project without its own limits.
        g.MapGet("/os-quota-class-sets/{name}", (HttpContext ctx, string name, CinderCatalog cat) =>
        {
            CinderRequest.Of(ctx).RequireAdmin();
            return Views.Json(new JsonObject { ["quota_class_set"] = QuotaSet(name, cat.QuotaDefaults(), null) });
        });
        g.MapPut("/os-quota-class-sets/{name}", async (HttpContext ctx, string name, CinderCatalog cat, CancellationToken ct) =>
        {
            CinderRequest.Of(ctx).RequireAdmin();
            if (name != "default") throw CinderError.BadRequest("Invalid input received: only the quota class 'default' is supported.");
            var values = QuotaValues(CinderBody.Entity(await CinderBody.ReadAsync(ctx.Request, ct), "quota_class_set"));
            await cat.SetQuotaDefaultsAsync(values, ct);
            var all = cat.QuotaDefaults();
            var o = new JsonObject();
            foreach (var k in QuotaResources.Reported) o[k] = all[k];
            return Views.Json(new JsonObject { ["quota_class_set"] = o });
        });
    }

    private static Dictionary<string, int> QuotaValues(JsonObject body)
    {
        var values = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (k, v) in body)
        {
            if (k is "tenant_id" or "id") continue;
            var resource = k.Contains('_', StringComparison.Ordinal) && (k.StartsWith("volumes_", StringComparison.Ordinal) || k.StartsWith("snapshots_", StringComparison.Ordinal) || k.StartsWith("gigabytes_", StringComparison.Ordinal))
                ? throw CinderError.BadRequest($"Invalid input received: per-type quota '{k}' is not supported.")
                : k;
            if (!QuotaResources.Reported.Contains(resource)) throw CinderError.BadRequest($"Bad key(s) in quota set: {k}");
            int n;
            if (v is JsonValue jv && jv.TryGetValue<int>(out var i)) n = i;
            else if (v is JsonValue sv && sv.TryGetValue<string>(out var s) && int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var p)) n = p;
            else throw CinderError.BadRequest($"Invalid input received: Quota limit {CinderBody.Show(v)} for {k} must be an integer.");
            if (n < -1) throw CinderError.BadRequest($"Invalid input received: Quota limit {n} for {k} must be -1 or greater.");
            values[resource] = n;
        }
        return values;
    }

    private static JsonObject QuotaSet(string project, IReadOnlyDictionary<string, int> limits, (int Volumes, int Snapshots, int Gigabytes)? usage)
    {
        var o = new JsonObject { ["id"] = project };
        foreach (var k in QuotaResources.Reported)
        {
            if (usage is { } u)
            {
                var inUse = k switch { "volumes" => u.Volumes, "snapshots" => u.Snapshots, "gigabytes" => u.Gigabytes, _ => 0 };
                o[k] = new JsonObject { ["limit"] = limits[k], ["in_use"] = inUse, ["reserved"] = 0, ["allocated"] = 0 };
            }
            else o[k] = limits[k];
        }
        return o;
    }
}
