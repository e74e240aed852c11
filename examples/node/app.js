'use strict';

console.log("hello from the Laingfile node example");
