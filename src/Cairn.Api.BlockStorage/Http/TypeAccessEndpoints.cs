using System.Globalization;
using Cairn.Api.BlockStorage.Model;

namespace Cairn.Api.BlockStorage.Http;

/// <summary>
/// Private volume types' access lists (Cinder's <c>os-volume-type-access</c>: cinder/api/contrib/volume_type_access.py)
/// and volume type encryption specs (<c>/types/{id}/encryption</c>: cinder/api/contrib/volume_type_encryption.py),
/// with Cinder's policy (admin only), checks in Cinder's order and its error codes.
/// </summary>
internal static class TypeAccessEndpoints
{
    private static readonly string[] EncryptionKeys = ["provider", "cipher", "key_size", "control_location"];

    public static void Map(RouteGroupBuilder g)
    {
        g.MapPost("/types/{id}/action", async (HttpContext ctx, string id, CinderCatalog cat, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var body = await CinderBody.ReadAsync(ctx.Request, ct);
            if (body.Count != 1) throw CinderError.BadRequest("Malformed request body: exactly one action (addProjectAccess or removeProjectAccess) was expected.");
            var (action, value) = body.First();
            if (action is not ("addProjectAccess" or "removeProjectAccess")) throw CinderError.BadRequest($"There is no such action: {action}");
            var project = Project(value, action);
            if (action == "addProjectAccess") await cat.AddAccessAsync(RequireType(c, cat, id).Id, project, ct);
            else await cat.RemoveAccessAsync(RequireType(c, cat, id).Id, project, ct);
            return Results.StatusCode(202);
        });
        g.MapGet("/types/{id}/os-volume-type-access", (HttpContext ctx, string id, CinderCatalog cat) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var t = RequireType(c, cat, id);
            if (t.IsPublic) throw CinderError.NotFound("Access list not available for public volume types.");
            var list = new JsonArray();
            foreach (var p in t.Projects) list.Add(new JsonObject { ["volume_type_id"] = t.Id, ["project_id"] = p });
            return Views.Json(new JsonObject { ["volume_type_access"] = list });
        });

        g.MapGet("/types/{id}/encryption", (HttpContext ctx, string id, CinderCatalog cat) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var t = RequireType(c, cat, id);
            return Views.Json(t.Encryption is { } e ? Row(t, e) : new JsonObject()); // Cinder answers {} for a type without one
        });
        g.MapGet("/types/{id}/encryption/{key}", (HttpContext ctx, string id, string key, CinderCatalog cat) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var t = RequireType(c, cat, id);
            return t.Encryption is { } e && Row(t, e) is var row && row.ContainsKey(key)
                ? Views.Json(new JsonObject { [key] = row[key]?.DeepClone() })
                : throw NoEncryption(t.Id);
        });
        g.MapPost("/types/{id}/encryption", async (HttpContext ctx, string id, CinderCatalog cat, VolumeWorkflows w, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var given = Spec(await CinderBody.ReadAsync(ctx.Request, ct), create: true);
            if (InUse(w, id)) throw CinderError.BadRequest("Cannot create encryption specs. Volume type in use.");
            var t = RequireType(c, cat, id);
            var spec = new EncryptionSpec(Guid.NewGuid().ToString("D"), Str(given, "provider")!, Str(given, "cipher"), Int(given), Str(given, "control_location")!,
                DateTimeOffset.UtcNow, null);
            await cat.SetEncryptionAsync(t.Id, cur => cur.Encryption is null ? spec : throw CinderError.BadRequest($"Volume type encryption for type {t.Id} already exists."), ct);
            // Cinder answers what was asked for, with the two ids its database added.
            given["volume_type_id"] = t.Id;
            given["encryption_id"] = spec.EncryptionId;
            return Views.Json(new JsonObject { ["encryption"] = given });
        });
        g.MapPut("/types/{id}/encryption/{spec}", async (HttpContext ctx, string id, string spec, CinderCatalog cat, VolumeWorkflows w, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            var given = Spec(await CinderBody.ReadAsync(ctx.Request, ct), create: false);
            var t = RequireType(c, cat, id);
            if (InUse(w, t.Id)) throw CinderError.BadRequest("Cannot update encryption specs. Volume type in use.");
            await cat.SetEncryptionAsync(t.Id, cur =>
            {
                var e = cur.Encryption ?? throw NoEncryption(t.Id);
                return e with
                {
                    Provider = given.ContainsKey("provider") ? Str(given, "provider")! : e.Provider,
                    Cipher = given.ContainsKey("cipher") ? Str(given, "cipher") : e.Cipher,
                    KeySize = given.ContainsKey("key_size") ? Int(given) : e.KeySize,
                    ControlLocation = given.ContainsKey("control_location") ? Str(given, "control_location")! : e.ControlLocation,
                    Updated = DateTimeOffset.UtcNow,
                };
            }, ct);
            return Views.Json(new JsonObject { ["encryption"] = given });
        });
        g.MapDelete("/types/{id}/encryption/{spec}", async (HttpContext ctx, string id, string spec, CinderCatalog cat, VolumeWorkflows w, CancellationToken ct) =>
        {
            var c = CinderRequest.Of(ctx);
            c.RequireAdmin();
            if (InUse(w, id)) throw CinderError.BadRequest("Cannot delete encryption specs. Volume type in use.");
            // Cinder deletes the row by type id: an unknown type and a type without encryption are both 404.
            if (cat.Get(id) is not { } t) throw NoEncryption(id);
            await cat.SetEncryptionAsync(t.Id, cur => cur.Encryption is null ? throw NoEncryption(t.Id) : null, ct);
            return Results.StatusCode(202);
        });
    }

    private static VolumeType RequireType(CinderRequest c, CinderCatalog cat, string id) => CatalogEndpoints.RequireType(c, cat, id);

    private static CinderError NoEncryption(string typeId) => CinderError.NotFound($"Volume type encryption for type {typeId} does not exist.");

    // Cinder's test: volumes of the type that are not deleted (volume_type_encryption_volume_get).
    private static bool InUse(VolumeWorkflows w, string typeId) => w.List(null).Any(v => v.Str("volume_type_id") == typeId);

    /// <summary>The encryption row as Cinder's database model answers it (every column; Tempest's show schema lists them).</summary>
    private static JsonObject Row(VolumeType t, EncryptionSpec e) => new()
    {
        ["volume_type_id"] = t.Id,
        ["encryption_id"] = e.EncryptionId,
        ["cipher"] = e.Cipher,
        ["key_size"] = e.KeySize,
        ["provider"] = e.Provider,
        ["control_location"] = e.ControlLocation,
        ["created_at"] = Cinder.Time(e.Created),
        ["updated_at"] = e.Updated is { } u ? Cinder.Time(u) : null,
        ["deleted"] = false,
        ["deleted_at"] = null,
    };

    /// <summary>
    /// Cinder's schema (cinder/api/schemas/volume_type_encryption.py): <c>{"encryption": {provider, control_location,
    /// cipher, key_size}}</c>, nothing else; provider and control_location required on create. Answers a copy with
    /// key_size made an integer, as Cinder's controller does.
    /// </summary>
    private static JsonObject Spec(JsonObject body, bool create)
    {
        if (body.Count != 1 || body["encryption"] is not JsonObject o)
            throw CinderError.BadRequest($"Invalid input for field/attribute encryption. Value: {CinderBody.Show(body)}. 'encryption' is a required property and the only one, and must be an object.");
        var result = new JsonObject();
        foreach (var (k, v) in o)
        {
            if (!EncryptionKeys.Contains(k)) throw CinderError.BadRequest($"Invalid input for field/attribute encryption. Value: {CinderBody.Show(o)}. Additional properties are not allowed ('{k}' was unexpected)");
            result[k] = k switch
            {
                "provider" => v is JsonValue p && p.TryGetValue<string>(out var s) && s.Length <= 255 ? s
                    : throw CinderError.BadRequest($"Invalid input for field/attribute provider. Value: {CinderBody.Show(v)}. {CinderBody.Show(v)} is not of type 'string' (at most 255 characters)"),
                "cipher" => v is null ? null : v is JsonValue cv && cv.TryGetValue<string>(out var cs) && cs.Length <= 255 ? cs
                    : throw CinderError.BadRequest($"Invalid input for field/attribute cipher. Value: {CinderBody.Show(v)}. {CinderBody.Show(v)} is not of type 'string', 'null' (at most 255 characters)"),
                "control_location" => v is JsonValue lv && lv.TryGetValue<string>(out var loc) && loc is EncryptionSpec.FrontEnd or EncryptionSpec.BackEnd ? loc
                    : throw CinderError.BadRequest($"Invalid input for field/attribute control_location. Value: {CinderBody.Show(v)}. {CinderBody.Show(v)} is not one of ['front-end', 'back-end']"),
                _ => KeySize(v),
            };
        }
        if (create)
            foreach (var required in new[] { "provider", "control_location" })
                if (!o.ContainsKey(required)) throw CinderError.BadRequest($"Invalid input for field/attribute encryption. Value: {CinderBody.Show(o)}. '{required}' is a required property");
        return result;
    }

    // parameter_types.key_size: an integer, a string of one, or null; not negative.
    private static JsonNode? KeySize(JsonNode? v)
    {
        if (v is null) return null;
        long n;
        if (v is JsonValue i && i.TryGetValue<long>(out var l)) n = l;
        else if (v is JsonValue s && s.TryGetValue<string>(out var text) && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var p)) n = p;
        else throw CinderError.BadRequest($"Invalid input for field/attribute key_size. Value: {CinderBody.Show(v)}. {CinderBody.Show(v)} is not a valid integer");
        if (n is < 0 or > int.MaxValue) throw CinderError.BadRequest($"Invalid input for field/attribute key_size. Value: {n}. key_size must be an integer from 0 to {int.MaxValue}");
        return (int)n;
    }

    private static string? Str(JsonObject o, string key) => VolumeAttrs.Str(o, key);

    private static int? Int(JsonObject o) => o["key_size"] is JsonValue v && v.TryGetValue<int>(out var i) ? i : null;

    // Cinder's _check_body: the action's value is an object whose project is UUID-like (32 hex digits, dashes optional).
    private static string Project(JsonNode? value, string action)
    {
        if (value is not JsonObject o) throw CinderError.BadRequest($"Missing required element '{action}' in request body.");
        var project = o["project"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        if (project is null || !Guid.TryParse(project.Replace("-", "", StringComparison.Ordinal), out _) || project.Replace("-", "", StringComparison.Ordinal).Length != 32)
            throw CinderError.BadRequest($"Bad project format: project is not in proper format ({project ?? CinderBody.Show(o["project"])})");
        return project;
    }
}
