// Validates an OpenAPI document with @apidevtools/swagger-parser (JSON-schema validation against
// the OpenAPI 3.0 schema, plus $ref resolution). Exit 0 when valid.
const SwaggerParser = require("@apidevtools/swagger-parser");

SwaggerParser.validate(process.argv[2])
  .then((api) => {
    const ops = Object.values(api.paths).reduce((n, p) => n + Object.keys(p).length, 0);
    console.log(`openapi ${api.openapi}: valid, ${ops} operations`);
  })
  .catch((err) => {
    console.error("invalid OpenAPI document:", err.message);
    process.exit(1);
  });
